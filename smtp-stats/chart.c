/*
 * chart.c: the chart of a published report, drawn once with cairo and
 * written twice: SVG (scales, for those who open it) and PNG (mail
 * clients and phones that show no SVG).  By hour of the day or day of the
 * month: messages received, the part of them learned as spam (counted at
 * the hour they arrived, not when someone learned them), greylisting
 * deferrals beside them, and the spam ratio on its own 0-100% axis.
 */
#include <math.h>
#include <string.h>

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include "stats.h"

#define W 800.0
#define H 420.0
#define LEFT 64.0
#define RIGHT (W - 64.0)
#define TOP 78.0
#define BOTTOM (H - 52.0)
#define FONT "DejaVu Sans"

static const double RECEIVED[] = { 0.29, 0.48, 0.71 };
static const double SPAM[] = { 0.75, 0.22, 0.17 };
static const double GREY[] = { 0.95, 0.63, 0.19 };
static const double RATIO[] = { 0.42, 0.20, 0.51 };

static void
bucket_counts(Stats *s, const char *sql, gint64 start, gint64 end, gint64 step, guint n,
    gint64 *a, gint64 *b)
{
	sqlite3_stmt *st = stats_stmt(s, sql);

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, step);
	while (sqlite3_step(st) == SQLITE_ROW) {
		gint64 i = sqlite3_column_int64(st, 0);

		if (i < 0 || i >= n)
			continue;
		a[i] = sqlite3_column_int64(st, 1);
		if (b)
			b[i] = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
}

ChartData *
chart_data(Stats *s, gint64 start, gint64 end, gboolean monthly)
{
	ChartData *d = g_new0(ChartData, 1);
	gint64 step = monthly ? 86400 : 3600;

	d->n = (guint)((end - start + step - 1) / step);
	d->received = g_new0(gint64, d->n);
	d->spam = g_new0(gint64, d->n);
	d->greylisted = g_new0(gint64, d->n);
	/* a message to several accounts is one message */
	bucket_counts(s, "SELECT b, count(*), sum(s) FROM (SELECT (ts - ?1) / ?3 b,"
			 " max(message_id IN (SELECT message_id FROM learned)) s FROM events"
			 " WHERE kind = 'delivered' AND ts >= ?1 AND ts < ?2"
			 " GROUP BY b, coalesce(message_id, rowid)) GROUP BY b",
	    start, end, step, d->n, d->received, d->spam);
	bucket_counts(s, "SELECT (ts - ?1) / ?3, count(*) FROM decisions WHERE action = '"
			 POLICY_GREYLISTED "' AND ts >= ?1 AND ts < ?2 GROUP BY 1",
	    start, end, step, d->n, d->greylisted, NULL);
	return d;
}

void
chart_data_free(ChartData *d)
{
	if (d == NULL)
		return;
	g_free(d->received);
	g_free(d->spam);
	g_free(d->greylisted);
	g_free(d);
}

static gint64
sum(const gint64 *v, guint n)
{
	gint64 t = 0;

	for (guint i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* A tick step of 1, 2 or 5 times a power of ten, about five ticks to @max. */
static gint64
tick_step(gint64 max)
{
	gint64 p = 1;

	while (p * 10 <= max / 5 + 1 && p < G_MAXINT64 / 10)
		p *= 10;
	if (p * 5 < max / 4)
		return p * 10;
	if (p * 2 < max / 4)
		return p * 5;
	if (p < max / 4)
		return p * 2;
	return p;
}

static void
text_at(cairo_t *cr, double x, double y, double align, const char *text)
{
	cairo_text_extents_t e;

	cairo_text_extents(cr, text, &e);
	cairo_move_to(cr, x - align * e.x_advance, y);
	cairo_show_text(cr, text);
}

static void
rgb(cairo_t *cr, const double *c)
{
	cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

static void
draw_title(cairo_t *cr, const ChartData *d, const char *label)
{
	gint64 rec = sum(d->received, d->n), spam = sum(d->spam, d->n);
	g_autofree char *title = g_strdup_printf("Mail for %s: %" G_GINT64_FORMAT " received, %"
						 G_GINT64_FORMAT " spam (%.0f%%), %" G_GINT64_FORMAT
						 " greylisted",
	    label, rec, spam, rec ? 100.0 * spam / rec : 0.0, sum(d->greylisted, d->n));
	struct {
		const double *c;
		const char *what;
		gboolean line;
	} legend[] = { { RECEIVED, "received", FALSE }, { SPAM, "of which spam", FALSE },
		{ GREY, "greylisted (deferred)", FALSE }, { RATIO, "spam ratio (right axis)", TRUE } };
	double x = LEFT;

	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 16);
	cairo_set_source_rgb(cr, 0, 0, 0);
	text_at(cr, W / 2, 28, 0.5, title);
	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, 12);
	for (gsize i = 0; i < G_N_ELEMENTS(legend); i++) {
		cairo_text_extents_t e;

		rgb(cr, legend[i].c);
		if (legend[i].line) {
			cairo_set_line_width(cr, 2.5);
			cairo_move_to(cr, x, 53);
			cairo_line_to(cr, x + 14, 53);
			cairo_stroke(cr);
			cairo_arc(cr, x + 7, 53, 3, 0, 2 * G_PI);
			cairo_fill(cr);
		} else {
			cairo_rectangle(cr, x, 47, 14, 12);
			cairo_fill(cr);
		}
		cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
		text_at(cr, x + 20, 58, 0, legend[i].what);
		cairo_text_extents(cr, legend[i].what, &e);
		x += 20 + e.x_advance + 24;
	}
}

/* Grid, both axes and their labels; the count at the top of the left axis. */
static gint64
draw_axes(cairo_t *cr, const ChartData *d, gboolean monthly)
{
	gint64 max = 0, step, top;
	double bw = (RIGHT - LEFT) / d->n;

	for (guint i = 0; i < d->n; i++)
		max = MAX(max, MAX(d->received[i], d->greylisted[i]));
	step = tick_step(MAX(max, 4));
	top = MAX(1, (max + step - 1) / step) * step;
	cairo_set_font_size(cr, 11);
	cairo_set_line_width(cr, 1);
	for (gint64 v = 0; v <= top; v += step) {
		double y = BOTTOM - (double)v / top * (BOTTOM - TOP);
		g_autofree char *t = g_strdup_printf("%" G_GINT64_FORMAT, v);

		cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
		cairo_move_to(cr, LEFT, floor(y) + 0.5);
		cairo_line_to(cr, RIGHT, floor(y) + 0.5);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
		text_at(cr, LEFT - 6, y + 4, 1, t);
	}
	rgb(cr, RATIO);
	for (int p = 0; p <= 100; p += 25) {
		g_autofree char *t = g_strdup_printf("%d%%", p);

		text_at(cr, RIGHT + 6, BOTTOM - p / 100.0 * (BOTTOM - TOP) + 4, 0, t);
	}
	cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
	for (guint i = 0; i < d->n; i++) {
		g_autofree char *t = monthly ? g_strdup_printf("%u", i + 1) :
		    g_strdup_printf("%02u", i);

		text_at(cr, LEFT + (i + 0.5) * bw, BOTTOM + 15, 0.5, t);
	}
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_move_to(cr, LEFT + 0.5, TOP);
	cairo_line_to(cr, LEFT + 0.5, BOTTOM + 0.5);
	cairo_line_to(cr, RIGHT + 0.5, BOTTOM + 0.5);
	cairo_line_to(cr, RIGHT + 0.5, TOP);
	cairo_stroke(cr);
	cairo_set_font_size(cr, 12);
	text_at(cr, (LEFT + RIGHT) / 2, H - 12, 0.5,
	    monthly ? "day of the month (UTC)" : "hour of the day (UTC)");
	cairo_save(cr);
	cairo_translate(cr, 16, (TOP + BOTTOM) / 2);
	cairo_rotate(cr, -G_PI / 2);
	text_at(cr, 0, 0, 0.5, "messages, requests");
	cairo_restore(cr);
	cairo_save(cr);
	rgb(cr, RATIO);
	cairo_translate(cr, W - 12, (TOP + BOTTOM) / 2);
	cairo_rotate(cr, G_PI / 2);
	text_at(cr, 0, 0, 0.5, "spam ratio");
	cairo_restore(cr);
	return top;
}

static void
draw_bars(cairo_t *cr, const ChartData *d, gint64 top)
{
	double bw = (RIGHT - LEFT) / d->n;
	double scale = (BOTTOM - TOP) / top;

	for (guint i = 0; i < d->n; i++) {
		double x = LEFT + i * bw;

		rgb(cr, RECEIVED);
		cairo_rectangle(cr, x + bw * 0.12, BOTTOM - d->received[i] * scale, bw * 0.42,
		    d->received[i] * scale);
		cairo_fill(cr);
		rgb(cr, SPAM);
		cairo_rectangle(cr, x + bw * 0.12, BOTTOM - d->spam[i] * scale, bw * 0.42,
		    d->spam[i] * scale);
		cairo_fill(cr);
		rgb(cr, GREY);
		cairo_rectangle(cr, x + bw * 0.56, BOTTOM - d->greylisted[i] * scale, bw * 0.30,
		    d->greylisted[i] * scale);
		cairo_fill(cr);
	}
}

/* The ratio where there was mail to have one: a gap where there was none. */
static void
ratio_path(cairo_t *cr, const ChartData *d)
{
	double bw = (RIGHT - LEFT) / d->n;
	gboolean drawing = FALSE;

	for (guint i = 0; i < d->n; i++) {
		double x = LEFT + (i + 0.5) * bw;
		double y;

		if (d->received[i] == 0) {
			drawing = FALSE;
			continue;
		}
		y = BOTTOM - (double)d->spam[i] / d->received[i] * (BOTTOM - TOP);
		if (drawing)
			cairo_line_to(cr, x, y);
		else
			cairo_move_to(cr, x, y);
		drawing = TRUE;
	}
}

/* The line over the bars, with a white edge so that it reads on them. */
static void
draw_ratio(cairo_t *cr, const ChartData *d)
{
	double bw = (RIGHT - LEFT) / d->n;

	cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_set_line_width(cr, 5.5);
	ratio_path(cr, d);
	cairo_stroke(cr);
	rgb(cr, RATIO);
	cairo_set_line_width(cr, 2.5);
	ratio_path(cr, d);
	cairo_stroke(cr);
	for (guint i = 0; i < d->n; i++)
		if (d->received[i]) {
			cairo_arc(cr, LEFT + (i + 0.5) * bw,
			    BOTTOM - (double)d->spam[i] / d->received[i] * (BOTTOM - TOP), 3.5, 0,
			    2 * G_PI);
			cairo_fill(cr);
		}
}

static void
draw(cairo_t *cr, const ChartData *d, gboolean monthly, const char *label)
{
	gint64 top;

	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	draw_title(cr, d, label);
	top = draw_axes(cr, d, monthly);
	draw_bars(cr, d, top);
	draw_ratio(cr, d);
}

static cairo_status_t
append(void *closure, const unsigned char *data, unsigned int length)
{
	g_byte_array_append(closure, data, length);
	return CAIRO_STATUS_SUCCESS;
}

gboolean
chart_render(const ChartData *d, gboolean monthly, const char *label, GBytes **svg,
    GBytes **png)
{
	GByteArray *sv = g_byte_array_new(), *pn = g_byte_array_new();
	cairo_surface_t *surface;
	cairo_t *cr;
	gboolean ok;

	surface = cairo_svg_surface_create_for_stream(append, sv, W, H);
	cr = cairo_create(surface);
	draw(cr, d, monthly, label);
	ok = cairo_status(cr) == CAIRO_STATUS_SUCCESS;
	cairo_destroy(cr);
	cairo_surface_finish(surface);
	cairo_surface_destroy(surface);
	/* the same drawing, pixels twice as dense: sharp on a phone */
	surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W * 2, (int)H * 2);
	cr = cairo_create(surface);
	cairo_scale(cr, 2, 2);
	draw(cr, d, monthly, label);
	ok = ok && cairo_status(cr) == CAIRO_STATUS_SUCCESS &&
	    cairo_surface_write_to_png_stream(surface, append, pn) == CAIRO_STATUS_SUCCESS;
	cairo_destroy(cr);
	cairo_surface_destroy(surface);
	/* cairo and fontconfig keep the fonts they looked up for the life of
	 * the process; a report draws once, so give them back (and the
	 * sanitizer's leak check sees none) */
	cairo_debug_reset_static_data();
	FcFini();
	*svg = g_byte_array_free_to_bytes(sv);
	*png = g_byte_array_free_to_bytes(pn);
	return ok;
}
