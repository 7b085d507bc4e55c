/*
 * request.c: a request as GMime reads it: the From address, the subject
 * with its tag and code ("mailcom # 123456"), and the command lines of
 * its text: "name(context)" a line, quoted lines ('>') and the signature
 * (after "-- ") left out.  Everything here is a remote sender's text
 * until authenticated; nothing of it becomes a path but a name checked
 * against [a-z0-9_-]{1,32}.
 */
#include <string.h>

#include <gmime/gmime.h>

#include "command.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimePartIter, g_mime_part_iter_free)

gboolean
command_name_ok(const char *name)
{
	gsize n = strlen(name);

	if (n == 0 || n > 32)
		return FALSE;
	for (const char *p = name; *p; p++)
		if (!(g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '_' || *p == '-'))
			return FALSE;
	return TRUE;
}

gboolean
request_parse_subject(const char *subject, const char *tag, char **code)
{
	gsize tl = strlen(tag);
	const char *p = subject;
	const char *end;

	*code = NULL;
	while (g_ascii_isspace(*p))
		p++;
	if (tl == 0 || g_ascii_strncasecmp(p, tag, tl) != 0 ||
	    (p[tl] != '\0' && !g_ascii_isspace(p[tl]) && p[tl] != '#'))
		return FALSE;
	p += tl;
	while (g_ascii_isspace(*p))
		p++;
	if (*p != '#')
		return TRUE;
	p++;
	while (g_ascii_isspace(*p))
		p++;
	end = p;
	while (*end && !g_ascii_isspace(*end))
		end++;
	*code = g_strndup(p, end - p);
	return TRUE;
}

static void
command_line_free(gpointer data)
{
	CommandLine *c = data;

	g_free(c->line);
	g_free(c->name);
	g_free(c->context);
	g_free(c);
}

/* One line that is not blank, quoted or signature: a command, or refused. */
static CommandLine *
parse_line(const char *text)
{
	CommandLine *c = g_new0(CommandLine, 1);
	const char *open = strchr(text, '(');
	gsize len = strlen(text);
	g_autofree char *name = NULL;

	c->line = g_utf8_make_valid(text, -1);
	if (open == NULL || len < 2 || text[len - 1] != ')') {
		c->why = "not a command: name(context)";
		return c;
	}
	name = g_strndup(text, open - text);
	if (!command_name_ok(name)) {
		c->why = "not a command name (a-z, 0-9, _ and -, up to 32)";
		return c;
	}
	c->name = g_steal_pointer(&name);
	c->context = g_utf8_make_valid(open + 1, text + len - 1 - (open + 1));
	return c;
}

GPtrArray *
request_parse_lines(const char *text)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(command_line_free);
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

	for (char **l = lines; *l && out->len < MAX_COMMANDS; l++) {
		char *t = *l;

		g_strchomp(t);
		/* "-- " is the signature's separator, trailing blank or not */
		if (strcmp(t, "--") == 0)
			break;
		g_strchug(t);
		if (*t == '\0' || *t == '>')
			continue;
		g_ptr_array_add(out, parse_line(t));
	}
	return out;
}

/* The first text/plain part of @entity, or NULL.  Transfer none. */
static GMimeTextPart *
first_text(GMimeObject *entity)
{
	g_autoptr(GMimePartIter) it = NULL;

	if (GMIME_IS_MESSAGE(entity))
		entity = g_mime_message_get_mime_part(GMIME_MESSAGE(entity));
	if (entity == NULL)
		return NULL;
	if (GMIME_IS_TEXT_PART(entity) &&
	    g_mime_content_type_is_type(g_mime_object_get_content_type(entity), "text", "plain"))
		return GMIME_TEXT_PART(entity);
	if (!GMIME_IS_MULTIPART(entity))
		return NULL;
	it = g_mime_part_iter_new(entity);
	do {
		GMimeObject *o = g_mime_part_iter_get_current(it);

		if (o && GMIME_IS_TEXT_PART(o) &&
		    g_mime_content_type_is_type(g_mime_object_get_content_type(o), "text", "plain"))
			return GMIME_TEXT_PART(o);
	} while (g_mime_part_iter_next(it));
	return NULL;
}

GPtrArray *
request_commands(gpointer entity)
{
	GMimeTextPart *t = first_text(GMIME_OBJECT(entity));
	g_autofree char *text = t ? g_mime_text_part_get_text(t) : NULL;

	return request_parse_lines(text);
}

/* The first mailbox of From, normalised. */
static char *
from_address(GMimeMessage *m)
{
	InternetAddressList *l = g_mime_message_get_from(m);
	InternetAddress *a = l && internet_address_list_length(l) > 0 ?
	    internet_address_list_get_address(l, 0) : NULL;

	if (a == NULL || !INTERNET_ADDRESS_IS_MAILBOX(a))
		return NULL;
	return mdir_address_normalize(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(a)));
}

Request *
request_parse(const char *data, gsize len, const char *tag)
{
	g_autoptr(GMimeStream) s = g_mime_stream_mem_new_with_buffer(data, len);
	g_autoptr(GMimeParser) p = g_mime_parser_new_with_stream(s);
	Request *r = g_new0(Request, 1);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	const char *subject;
	const char *auto_sub;

	r->subject = g_strdup("");
	if (m == NULL)
		return r;
	r->message = m;
	r->content = g_object_ref(m);
	subject = g_mime_message_get_subject(m);
	if (subject) {
		g_free(r->subject);
		r->subject = g_utf8_make_valid(subject, -1);
		g_strdelimit(r->subject, "\r\n", ' ');
	}
	r->from = from_address(m);
	if (g_mime_message_get_message_id(m))
		r->message_id = g_strdup(g_mime_message_get_message_id(m));
	r->tagged = request_parse_subject(r->subject, tag, &r->code);
	auto_sub = g_mime_object_get_header(GMIME_OBJECT(m), "Auto-Submitted");
	if (auto_sub) {
		g_autofree char *v = g_strstrip(g_strdup(auto_sub));

		r->auto_submitted = g_ascii_strncasecmp(v, "no", 2) != 0;
	}
	return r;
}

gboolean
request_set_content(Request *r, GBytes *entity)
{
	gsize len;
	const char *data = g_bytes_get_data(entity, &len);
	g_autoptr(GMimeStream) s = g_mime_stream_mem_new_with_buffer(data, len);
	g_autoptr(GMimeParser) p = g_mime_parser_new_with_stream(s);
	GMimeObject *o = g_mime_parser_construct_part(p, NULL);

	if (o == NULL)
		return FALSE;
	g_clear_object(&r->content);
	r->content = o;
	return TRUE;
}

void
request_free(Request *r)
{
	if (r == NULL)
		return;
	g_clear_object(&r->content);
	g_clear_object(&r->message);
	g_free(r->from);
	g_free(r->subject);
	g_free(r->message_id);
	g_free(r->code);
	g_free(r);
}
