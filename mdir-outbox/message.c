/*
 * message.c: a message of the outbox, read and made ready to send: its
 * envelope from its own header fields (RFC 5322 §3.6.6 for Resent-*),
 * Bcc taken out, the fields every message must have put in, and 8-bit
 * content made 7-bit before anything is signed.
 *
 * The header block is held as the raw fields, folding and all, so that
 * what is signed is byte for byte what goes out; the body is never read
 * into memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "outbox.h"

static void
field_free(gpointer p)
{
	HeaderField *f = p;

	g_free(f->raw);
	g_free(f->name);
	g_free(f);
}

const char *
header_name(const HeaderField *f)
{
	return f->name;
}

void
message_free(Message *m)
{
	if (m == NULL)
		return;
	if (m->body_path && g_strcmp0(m->body_path, m->path) != 0)
		unlink(m->body_path); /* the 7-bit copy */
	g_free(m->path);
	if (m->fields)
		g_ptr_array_unref(m->fields);
	g_free(m->body_path);
	g_free(m->sender);
	if (m->rcpts)
		g_ptr_array_unref(m->rcpts);
	g_free(m->message_id);
	g_free(m->subject);
	if (m->authors)
		g_ptr_array_unref(m->authors);
	g_free(m->from);
	g_free(m->signed_with);
	if (m->froms)
		g_ptr_array_unref(m->froms);
	g_free(m);
}

static void
add_field(GPtrArray *fields, const char *raw, gsize len)
{
	HeaderField *f = g_new0(HeaderField, 1);
	const char *colon = memchr(raw, ':', len);

	f->raw = g_strndup(raw, len);
	f->len = len;
	f->name = g_strstrip(g_strndup(raw, colon ? (gsize)(colon - raw) : len));
	g_ptr_array_add(fields, f);
}

/* The header block of @path into fields; the offset of the body. */
static GPtrArray *
read_fields(const char *path, goffset *body_at, gboolean *crlf, GError **error)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(field_free);
	g_autoptr(GString) cur = g_string_new(NULL);
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	gboolean first = TRUE;

	if (fp == NULL) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return NULL;
	}
	*body_at = -1;
	while ((n = getline(&line, &cap, fp)) > 0) {
		if (first)
			*crlf = n >= 2 && line[n - 2] == '\r';
		first = FALSE;
		if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n')) {
			*body_at = ftello(fp);
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && cur->len > 0) {
			g_string_append_len(cur, line, n);
			continue;
		}
		if (cur->len > 0)
			add_field(fields, cur->str, cur->len);
		g_string_assign(cur, "");
		if (memchr(line, ':', n) == NULL) {
			/* a From_ line of an mbox, or junk: no header field */
			if (g_str_has_prefix(line, "From ") && fields->len == 0)
				continue;
			free(line);
			fclose(fp);
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
			    "line %u of the header is not a header field", fields->len + 1);
			return NULL;
		}
		g_string_append_len(cur, line, n);
	}
	if (cur->len > 0) {
		/* a last field cut off without its line end: give it one */
		if (cur->str[cur->len - 1] != '\n')
			g_string_append(cur, *crlf ? "\r\n" : "\n");
		add_field(fields, cur->str, cur->len);
	}
	if (*body_at < 0)
		*body_at = ftello(fp); /* no body at all */
	free(line);
	fclose(fp);
	return g_steal_pointer(&fields);
}

/* The value of a field, unfolded.  Transfer full. */
static char *
field_value(const HeaderField *f)
{
	const char *colon = memchr(f->raw, ':', f->len);
	GString *s = g_string_new(NULL);

	for (const char *p = colon ? colon + 1 : f->raw; p < f->raw + f->len; p++)
		if (*p != '\r' && *p != '\n')
			g_string_append_c(s, *p);
	return g_strstrip(g_string_free(s, FALSE));
}

static const HeaderField *
find(GPtrArray *fields, const char *name)
{
	for (guint i = 0; i < fields->len; i++)
		if (g_ascii_strcasecmp(header_name(fields->pdata[i]), name) == 0)
			return fields->pdata[i];
	return NULL;
}

char *
message_header(const Message *m, const char *name)
{
	const HeaderField *f = find(m->fields, name);

	return f ? field_value(f) : NULL;
}

static gboolean
address_ok(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '.') == NULL ||
	    at[strlen(at) - 1] == '.')
		return FALSE;
	for (const char *p = a; *p; p++)
		if ((guchar)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == '"')
			return FALSE;
	return TRUE;
}

/* The mailboxes of a list, groups flattened, into @out. */
static void
flatten(InternetAddressList *list, GPtrArray *out)
{
	for (int i = 0; list && i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(a))
			flatten(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out);
		else
			g_ptr_array_add(out, g_strdup(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(a))));
	}
}

/* Every address of the fields named @names, checked. */
static gboolean
addresses(GPtrArray *fields, const char *const *names, GPtrArray *out, GError **error)
{
	for (guint i = 0; i < fields->len; i++) {
		const HeaderField *f = fields->pdata[i];
		g_autofree char *lower = g_ascii_strdown(header_name(f), -1);
		g_autofree char *v = NULL;
		g_autoptr(GPtrArray) got = NULL;
		InternetAddressList *list;

		if (!g_strv_contains(names, lower))
			continue;
		v = field_value(f);
		list = internet_address_list_parse(NULL, v);
		got = g_ptr_array_new_with_free_func(g_free);
		flatten(list, got);
		if (list)
			g_object_unref(list);
		if (got->len == 0 && *v) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: no address in \"%s\"",
			    header_name(f), v);
			return FALSE;
		}
		for (guint j = 0; j < got->len; j++) {
			if (!address_ok(got->pdata[j])) {
				g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
				    "%s: \"%s\" is not a valid address", header_name(f),
				    (char *)got->pdata[j]);
				return FALSE;
			}
			g_ptr_array_add(out, g_strdup(got->pdata[j]));
		}
	}
	return TRUE;
}

static gboolean
has_any(GPtrArray *fields, const char *const *names)
{
	for (const char *const *n = names; *n; n++)
		if (find(fields, *n))
			return TRUE;
	return FALSE;
}

/* RFC 5322 §3.6.6: a message resent is sent to its Resent-* recipients. */
static gboolean
envelope(Message *m, const char *default_sender, GError **error)
{
	static const char *const resent[] = { "resent-to", "resent-cc", "resent-bcc", NULL };
	static const char *const plain[] = { "to", "cc", "bcc", NULL };
	static const char *const resent_from[] = { "resent-sender", NULL };
	static const char *const resent_from2[] = { "resent-from", NULL };
	static const char *const from[] = { "sender", NULL };
	static const char *const from2[] = { "from", NULL };
	gboolean re = has_any(m->fields, resent);
	const char *const *order[] = { re ? resent_from : from, re ? resent_from2 : from2 };
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	if (!addresses(m->fields, re ? resent : plain, all, error))
		return FALSE;
	m->rcpts = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < all->len; i++) {
		char *lower = g_ascii_strdown(all->pdata[i], -1);

		if (g_hash_table_add(seen, lower))
			g_ptr_array_add(m->rcpts, g_strdup(all->pdata[i]));
	}
	if (m->rcpts->len == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "no recipient (%s)",
		    re ? "Resent-To, Resent-Cc and Resent-Bcc are empty" :
			 "no To, Cc or Bcc");
		return FALSE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(order) && m->sender == NULL; i++) {
		g_autoptr(GPtrArray) s = g_ptr_array_new_with_free_func(g_free);

		if (!addresses(m->fields, order[i], s, error))
			return FALSE;
		if (s->len > 0)
			m->sender = g_strdup(s->pdata[0]);
	}
	if (m->sender == NULL && default_sender && address_ok(default_sender))
		m->sender = g_strdup(default_sender);
	if (m->sender == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "no sender: no From or Sender, and no [outbox] sender");
		return FALSE;
	}
	return TRUE;
}

/* mdir's own outbox: the envelope its record gives, each recipient once. */
static gboolean
given_envelope(Message *m, const MessageLoad *how, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	if (*how->sender && !address_ok(how->sender)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "outbox-sender: \"%s\" is not a valid address", how->sender);
		return FALSE;
	}
	m->sender = g_strdup(how->sender);
	m->rcpts = g_ptr_array_new_with_free_func(g_free);
	for (const char *const *r = how->rcpts; *r; r++) {
		if (!address_ok(*r)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
			    "outbox-recipient: \"%s\" is not a valid address", *r);
			return FALSE;
		}
		if (g_hash_table_add(seen, g_ascii_strdown(*r, -1)))
			g_ptr_array_add(m->rcpts, g_strdup(*r));
	}
	if (m->rcpts->len == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "no outbox-recipient");
		return FALSE;
	}
	return TRUE;
}

/* Who the message says wrote or sent it; exactly one From (RFC 5322 §3.6). */
static gboolean
authors(Message *m, GError **error)
{
	static const char *const from[] = { "from", NULL };
	static const char *const names[] = { "from", "sender", "resent-from", "resent-sender",
		NULL };
	g_autoptr(GPtrArray) f = g_ptr_array_new_with_free_func(g_free);
	guint n = 0;

	for (guint i = 0; i < m->fields->len; i++)
		if (g_ascii_strcasecmp(header_name(m->fields->pdata[i]), "from") == 0)
			n++;
	if (n != 1) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, n == 0 ? "no From field" :
		    "%u From fields: a message has one", n);
		return FALSE;
	}
	if (!addresses(m->fields, from, f, error))
		return FALSE;
	if (f->len == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "From: no address");
		return FALSE;
	}
	m->from = g_strdup(f->pdata[0]);
	m->froms = g_steal_pointer(&f);
	m->authors = g_ptr_array_new_with_free_func(g_free);
	return addresses(m->fields, names, m->authors, error);
}

static void
drop_fields(GPtrArray *fields, const char *name)
{
	for (guint i = fields->len; i-- > 0;)
		if (g_ascii_strcasecmp(header_name(fields->pdata[i]), name) == 0)
			g_ptr_array_remove_index(fields, i);
}

/* Message-ID and Date if missing: every message has them (RFC 5322 §3.6). */
static void
complete(Message *m, const char *domain)
{
	const char *eol = m->eol_crlf ? "\r\n" : "\n";
	const HeaderField *id = find(m->fields, "message-id");
	const HeaderField *subj = find(m->fields, "subject");

	if (id) {
		g_autofree char *v = field_value(id);

		m->message_id = g_strdup(v[0] == '<' ? v + 1 : v);
		if (m->message_id[0] && m->message_id[strlen(m->message_id) - 1] == '>')
			m->message_id[strlen(m->message_id) - 1] = '\0';
	} else {
		g_autofree char *raw = NULL;
		const char *at = strrchr(m->from, '@');

		m->message_id = g_strdup_printf("%" G_GINT64_MODIFIER "x.%08x@%s",
		    g_get_real_time(), g_random_int(), domain ? domain : at + 1);
		raw = g_strdup_printf("Message-ID: <%s>%s", m->message_id, eol);
		add_field(m->fields, raw, strlen(raw));
	}
	if (find(m->fields, "date") == NULL) {
		g_autofree char *d = mdir_time_now(MDIR_TIME_RFC5322);
		g_autofree char *raw = g_strdup_printf("Date: %s%s", d, eol);

		add_field(m->fields, raw, strlen(raw));
	}
	m->subject = subj ? field_value(subj) : g_strdup("");
}

/* Whether the file holds a byte with the high bit set. */
static gboolean
has_8bit(const char *path)
{
	FILE *fp = fopen(path, "re");
	char buf[65536];
	size_t n;
	gboolean found = FALSE;

	while (fp && !found && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		for (size_t i = 0; i < n && !found; i++)
			found = (guchar)buf[i] >= 0x80;
	if (fp)
		fclose(fp);
	return found;
}

/*
 * A 7-bit copy of @path in @store's tmp: 8-bit parts re-encoded
 * (quoted-printable or base64) by GMime, as a relay without 8BITMIME
 * would, but before the signature rather than after it.  Transfer full.
 */
static char *
to_7bit(const char *path, MdirStore *store, GError **error)
{
	g_autofree char *out = NULL;
	int fd;
	GMimeFormatOptions *fmt = NULL;
	GMimeStream *in = NULL;
	GMimeStream *dst = NULL;
	GMimeParser *parser = NULL;
	GMimeMessage *msg = NULL;
	gboolean ok = FALSE;

	in = g_mime_stream_fs_open(path, O_RDONLY, 0, error);
	if (in == NULL)
		goto out;
	parser = g_mime_parser_new_with_stream(in);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "not a MIME message");
		goto out;
	}
	g_mime_object_encode(GMIME_OBJECT(msg), GMIME_ENCODING_CONSTRAINT_7BIT);
	fd = mdir_store_tmp_open(store, 0600, &out, error);
	if (fd < 0)
		goto out;
	dst = g_mime_stream_fs_new(fd); /* owns @fd from here on */
	fmt = g_mime_format_options_new();
	ok = g_mime_object_write_to_stream(GMIME_OBJECT(msg), fmt, dst) >= 0 &&
	    g_mime_stream_flush(dst) == 0;
	if (!ok) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: cannot write", out);
		unlink(out);
	}
out:
	if (fmt)
		g_mime_format_options_free(fmt);
	g_clear_object(&dst);
	g_clear_object(&msg);
	g_clear_object(&parser);
	g_clear_object(&in);
	return ok ? g_steal_pointer(&out) : NULL;
}

/* A field with 8-bit bytes re-encoded by RFC 2047, as a 7-bit field. */
static void
encode_field(HeaderField *f, gboolean crlf)
{
	static const char *const addr[] = { "from", "to", "cc", "reply-to", "sender",
		"resent-from", "resent-to", "resent-cc", "resent-sender", NULL };
	g_autofree char *lower = g_ascii_strdown(f->name, -1);
	g_autofree char *v = field_value(f);
	g_autofree char *enc = NULL;

	if (g_strv_contains(addr, lower)) {
		InternetAddressList *l = internet_address_list_parse(NULL, v);

		enc = l ? internet_address_list_to_string(l, NULL, TRUE) : NULL;
		if (l)
			g_object_unref(l);
	}
	if (enc == NULL)
		enc = g_mime_utils_header_encode_text(NULL, v, "utf-8");
	g_free(f->raw);
	f->raw = g_strdup_printf("%s: %s%s", f->name, enc, crlf ? "\r\n" : "\n");
	f->len = strlen(f->raw);
}

static gboolean
field_8bit(const HeaderField *f)
{
	for (gsize i = 0; i < f->len; i++)
		if ((guchar)f->raw[i] >= 0x80)
			return TRUE;
	return FALSE;
}

Message *
message_load(const char *path, const MessageLoad *how, GError **error)
{
	g_autoptr(Message) m = g_new0(Message, 1);

	m->path = g_strdup(path);
	m->body_path = g_strdup(path);
	if (has_8bit(path)) {
		g_free(m->body_path);
		m->body_path = to_7bit(path, how->store, error);
		if (m->body_path == NULL)
			return NULL;
	}
	m->fields = read_fields(m->body_path, &m->body_at, &m->eol_crlf, error);
	if (m->fields == NULL)
		return NULL;
	for (guint i = 0; i < m->fields->len; i++)
		if (field_8bit(m->fields->pdata[i]))
			encode_field(m->fields->pdata[i], m->eol_crlf);
	if (!authors(m, error))
		return NULL;
	if (how->rcpts ? !given_envelope(m, how, error) :
	    !envelope(m, how->default_sender, error))
		return NULL;
	drop_fields(m->fields, "bcc");
	drop_fields(m->fields, "resent-bcc");
	complete(m, how->domain);
	return g_steal_pointer(&m);
}

gboolean
message_write(const Message *m, const char *prefix, FILE *dst, GError **error)
{
	FILE *src = NULL;
	char buf[65536];
	char last = '\n';
	size_t n;
	gboolean ok;

	for (const char *p = prefix ? prefix : ""; *p; p++)
		if (*p != '\r' || m->eol_crlf)
			fputc(*p, dst); /* the message's own line ends */
	for (guint i = 0; i < m->fields->len; i++) {
		const HeaderField *f = m->fields->pdata[i];

		fwrite(f->raw, 1, f->len, dst);
	}
	fputs(m->eol_crlf ? "\r\n" : "\n", dst);
	src = fopen(m->body_path, "re");
	ok = src && fseeko(src, m->body_at, SEEK_SET) == 0;
	buf[0] = '\n';
	while (ok && (n = fread(buf, 1, sizeof(buf), src)) > 0) {
		ok = fwrite(buf, 1, n, dst) == n;
		last = buf[n - 1];
	}
	/* SMTP ends every body with a line end: say so now, as signed */
	if (ok && last != '\n')
		fputs(m->eol_crlf ? "\r\n" : "\n", dst);
	ok = ok && !ferror(src) && fflush(dst) == 0 && !ferror(dst);
	if (src)
		fclose(src);
	if (!ok)
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno ? errno : EIO),
		    "%s: %s", m->body_path, g_strerror(errno ? errno : EIO));
	return ok;
}
