/*
 * publish.c: "smtp-stats publish": the report of a day or a month as a
 * message built with GMime (the text as its body; the CSV, the chart as
 * SVG and as PNG attached) and queued for SMTP/Statistics as generated
 * mail (mdir_generated_file()), where the admin's rules file it like any
 * other mail.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <gmime/gmime.h>

#include "stats.h"

/* GMime 3.2 declares no autoptr cleanups of its own */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeContentType, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeDataWrapper, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMultipart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)

static GMimePart *
part_new(const char *type, const char *filename, GBytes *data, GMimeContentEncoding encoding)
{
	g_autoptr(GMimeContentType) ct = g_mime_content_type_parse(NULL, type);
	GMimePart *part = g_mime_part_new_with_type(g_mime_content_type_get_media_type(ct),
	    g_mime_content_type_get_media_subtype(ct));
	g_autoptr(GMimeStream) st = g_mime_stream_mem_new_with_buffer(g_bytes_get_data(data,
	    NULL), g_bytes_get_size(data));
	g_autoptr(GMimeDataWrapper) w = g_mime_data_wrapper_new_with_stream(st,
	    GMIME_CONTENT_ENCODING_DEFAULT);

	if (g_str_has_prefix(type, "text/"))
		g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
	g_mime_part_set_content(part, w);
	g_mime_part_set_content_encoding(part, encoding);
	if (filename)
		g_mime_part_set_filename(part, filename);
	return part;
}

static void
attach(GMimeMultipart *mp, GMimePart *part)
{
	g_mime_multipart_add(mp, GMIME_OBJECT(part));
	g_object_unref(part);
}

/* The report's message.  Transfer full. */
static GMimeMessage *
build(const char *label, const char *text, const char *csv, GBytes *svg, GBytes *png)
{
	g_autofree char *subject = g_strdup_printf("mdir statistics for %s", label);
	GMimeMessage *m = mdir_generated_new("smtp-stats", "statistics", subject,
	    "auto-generated");
	g_autoptr(GMimeMultipart) mp = g_mime_multipart_new_with_subtype("mixed");
	g_autofree char *id = g_strdup_printf("stats-%s.%" G_GINT64_FORMAT "@mdir", label,
	    g_get_real_time());
	g_autofree char *csv_name = g_strdup_printf("statistics-%s.csv", label);
	g_autofree char *svg_name = g_strdup_printf("statistics-%s.svg", label);
	g_autofree char *png_name = g_strdup_printf("statistics-%s.png", label);
	g_autoptr(GBytes) tb = g_bytes_new_static(text, strlen(text));
	g_autoptr(GBytes) cb = g_bytes_new_static(csv, strlen(csv));

	/* the period in the id: an admin finds a report by it */
	g_mime_message_set_message_id(m, id);
	attach(mp, part_new("text/plain", NULL, tb, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE));
	attach(mp, part_new("text/csv", csv_name, cb, GMIME_CONTENT_ENCODING_BASE64));
	attach(mp, part_new("image/svg+xml", svg_name, svg, GMIME_CONTENT_ENCODING_BASE64));
	attach(mp, part_new("image/png", png_name, png, GMIME_CONTENT_ENCODING_BASE64));
	g_mime_message_set_mime_part(m, GMIME_OBJECT(mp));
	return m;
}

int
report_publish(Stats *s, gboolean monthly, const char *day, const char *month,
    gboolean verbose, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	/* by default the day or month just ended: cron runs it after midnight */
	g_autoptr(GDateTime) ref = monthly ? g_date_time_add_months(now, -1) :
	    g_date_time_add_days(now, -1);
	g_autofree char *key = (day || month) ? g_strdup(day ? day : month) :
	    mdir_time_format(g_date_time_to_unix(ref), monthly ? MDIR_TIME_MONTH : MDIR_TIME_DAY);
	g_autofree char *label = NULL, *text = NULL, *csv = NULL;
	g_autoptr(GPtrArray) tables = NULL;
	g_autoptr(ChartData) data = NULL;
	g_autoptr(GBytes) svg = NULL;
	g_autoptr(GBytes) png = NULL;
	g_autoptr(GMimeMessage) m = NULL;
	g_autoptr(MdirFolder) folder = NULL;
	gint64 start, end;

	if (!report_period(monthly ? NULL : key, monthly ? key : NULL, &start, &end, &label)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "publish: %s is not a %s", key,
		    monthly ? "YYYY-MM" : "YYYY-MM-DD");
		return -1;
	}
	if (stats_import(s, error) < 0)
		return -1;
	tables = report_collect(s, start, end);
	text = report_render(tables, "text", label, start, end);
	csv = report_render(tables, "csv", label, start, end);
	data = chart_data(s, start, end, monthly);
	if (!chart_render(data, monthly, label, &svg, &png)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "publish: cairo cannot draw");
		return -1;
	}
	m = build(label, text, csv, svg, png);
	/* through mdird, so that the admin's rules file it like any mail */
	folder = mdir_folder_open(s->store, "SMTP/Statistics", MDIR_FOLDER_CREATE, error);
	if (folder == NULL || !mdir_generated_file(s->store, s->config, m, folder, NULL,
	    MDIR_GENERATED_RULES, NULL, error))
		return -1;
	mdir_log(LOG_INFO, "published the statistics for %s: message-id=<%s>", label,
	    g_mime_message_get_message_id(m));
	if (verbose)
		printf("%s\n", g_mime_message_get_message_id(m));
	return 0;
}
