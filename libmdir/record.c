/*
 * record.c: header records (DESIGN §3, mdir(5)).  One field a line,
 * "name: value", names in lower case, values one line of UTF-8.  The same
 * text is on disk in .meta/ and on mdird's socket, so the writer guarantees
 * what the reader assumes: no CR or LF inside a value, valid UTF-8, and a
 * backslash before a value that starts with a blank or a backslash.
 */
#include <string.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

typedef struct {
	char *name;
	char *value;
} Field;

struct MdirRecord {
	GArray *fields; /* of Field */
};

static void
field_clear(gpointer data)
{
	Field *f = data;

	g_free(f->name);
	g_free(f->value);
}

MdirRecord *
mdir_record_new(void)
{
	MdirRecord *r = g_new0(MdirRecord, 1);

	r->fields = g_array_new(FALSE, FALSE, sizeof(Field));
	g_array_set_clear_func(r->fields, field_clear);
	return r;
}

void
mdir_record_free(MdirRecord *record)
{
	if (record == NULL)
		return;
	g_array_unref(record->fields);
	g_free(record);
}

MdirRecord *
mdir_record_copy(const MdirRecord *record)
{
	MdirRecord *copy;

	g_return_val_if_fail(record != NULL, NULL);
	copy = mdir_record_new();
	for (guint i = 0; i < record->fields->len; i++) {
		Field *f = &g_array_index(record->fields, Field, i);
		Field nf = { g_strdup(f->name), g_strdup(f->value) };

		g_array_append_val(copy->fields, nf);
	}
	return copy;
}

static char *
clean_name(const char *name)
{
	char *n = g_ascii_strdown(name, -1);

	for (char *p = n; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
			*p = '-';
	return n;
}

static char *
clean_value(const char *value)
{
	char *v = g_utf8_make_valid(value, -1);

	g_strdelimit(v, "\r\n", ' ');
	return v;
}

void
mdir_record_add(MdirRecord *record, const char *name, const char *value)
{
	Field f;

	g_return_if_fail(record != NULL);
	g_return_if_fail(name != NULL && *name != '\0');
	if (value == NULL)
		return;
	f.name = clean_name(name);
	f.value = clean_value(value);
	g_array_append_val(record->fields, f);
}

void
mdir_record_remove(MdirRecord *record, const char *name)
{
	g_autofree char *n = NULL;

	g_return_if_fail(record != NULL && name != NULL);
	n = clean_name(name);
	for (guint i = record->fields->len; i > 0; i--)
		if (strcmp(g_array_index(record->fields, Field, i - 1).name, n) == 0)
			g_array_remove_index(record->fields, i - 1);
}

void
mdir_record_set(MdirRecord *record, const char *name, const char *value)
{
	g_autofree char *n = NULL;

	g_return_if_fail(record != NULL && name != NULL);
	n = clean_name(name);
	/* keep the field's place if it had one: records read better stable */
	for (guint i = 0; i < record->fields->len; i++) {
		Field *f = &g_array_index(record->fields, Field, i);

		if (strcmp(f->name, n) != 0)
			continue;
		if (value == NULL)
			break;
		g_free(f->value);
		f->value = clean_value(value);
		for (guint j = record->fields->len - 1; j > i; j--)
			if (strcmp(g_array_index(record->fields, Field, j).name, n) == 0)
				g_array_remove_index(record->fields, j);
		return;
	}
	mdir_record_remove(record, n);
	mdir_record_add(record, n, value);
}

void
mdir_record_set_int(MdirRecord *record, const char *name, gint64 value)
{
	char buf[32];

	g_snprintf(buf, sizeof(buf), "%" G_GINT64_FORMAT, value);
	mdir_record_set(record, name, buf);
}

const char *
mdir_record_get(const MdirRecord *record, const char *name)
{
	g_return_val_if_fail(record != NULL && name != NULL, NULL);
	for (guint i = 0; i < record->fields->len; i++) {
		Field *f = &g_array_index(record->fields, Field, i);

		if (g_ascii_strcasecmp(f->name, name) == 0)
			return f->value;
	}
	return NULL;
}

gint64
mdir_record_get_int(const MdirRecord *record, const char *name, gint64 fallback)
{
	const char *v = mdir_record_get(record, name);
	gint64 n;

	if (v == NULL || !g_ascii_string_to_signed(v, 10, G_MININT64, G_MAXINT64, &n, NULL))
		return fallback;
	return n;
}

const char **
mdir_record_get_all(const MdirRecord *record, const char *name)
{
	GPtrArray *all = g_ptr_array_new();

	g_return_val_if_fail(record != NULL && name != NULL, NULL);
	for (guint i = 0; i < record->fields->len; i++) {
		Field *f = &g_array_index(record->fields, Field, i);

		if (g_ascii_strcasecmp(f->name, name) == 0)
			g_ptr_array_add(all, f->value);
	}
	g_ptr_array_add(all, NULL);
	return (const char **)(void *)g_ptr_array_free(all, FALSE);
}

guint
mdir_record_length(const MdirRecord *record)
{
	g_return_val_if_fail(record != NULL, 0);
	return record->fields->len;
}

void
mdir_record_nth(const MdirRecord *record, guint n, const char **name, const char **value)
{
	Field *f;

	g_return_if_fail(record != NULL && n < record->fields->len);
	f = &g_array_index(record->fields, Field, n);
	if (name)
		*name = f->name;
	if (value)
		*value = f->value;
}

char *
mdir_record_to_string(const MdirRecord *record, gsize *length)
{
	GString *s = g_string_sized_new(512);

	g_return_val_if_fail(record != NULL, NULL);
	for (guint i = 0; i < record->fields->len; i++) {
		Field *f = &g_array_index(record->fields, Field, i);

		g_string_append(s, f->name);
		g_string_append(s, ": ");
		/* a reader skips the blanks after the colon: a value that starts
		 * with one (or with the escape itself) gets a backslash first */
		if (f->value[0] == ' ' || f->value[0] == '\t' || f->value[0] == '\\')
			g_string_append_c(s, '\\');
		g_string_append(s, f->value);
		g_string_append_c(s, '\n');
	}
	if (length)
		*length = s->len;
	return g_string_free(s, FALSE);
}

MdirRecord *
mdir_record_parse(const char *text, gssize len, GError **error)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	const char *p, *end;
	guint lineno = 0;

	g_return_val_if_fail(text != NULL, NULL);
	end = text + (len < 0 ? (gssize)strlen(text) : len);
	for (p = text; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		const char *colon;
		g_autofree char *name = NULL;
		g_autofree char *value = NULL;

		lineno++;
		if (eol > p && eol[-1] == '\r')
			eol--;
		if (eol == p)
			goto next;
		colon = memchr(p, ':', eol - p);
		if (colon == NULL || colon == p) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT,
			    "line %u: expected 'name: value'", lineno);
			return NULL;
		}
		name = g_strndup(p, colon - p);
		if (*g_strstrip(name) == '\0') { /* blanks, or a NUL, before the colon */
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT,
			    "line %u: a field with no name", lineno);
			return NULL;
		}
		colon++;
		while (colon < eol && (*colon == ' ' || *colon == '\t'))
			colon++;
		if (colon < eol && *colon == '\\') /* the writer's escape */
			colon++;
		value = g_strndup(colon, eol - colon);
		mdir_record_add(r, name, value);
next:
		p = nl ? nl + 1 : end;
	}
	return g_steal_pointer(&r);
}

MdirRecord *
mdir_record_load(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len;
	GError *e = NULL;
	MdirRecord *r;

	if (!g_file_get_contents(path, &text, &len, error))
		return NULL;
	r = mdir_record_parse(text, len, &e);
	if (r == NULL)
		g_propagate_prefixed_error(error, e, "%s: ", path);
	return r;
}

gboolean
mdir_record_save(const MdirRecord *record, const char *path, GError **error)
{
	gsize len;
	g_autofree char *text = mdir_record_to_string(record, &len);

	return mdir_file_write_durable(path, text, len, error);
}

gboolean
mdir_write_record(const MdirRecord *record, const char *path, GError **error)
{
	gsize len;
	g_autofree char *text = mdir_record_to_string(record, &len);

	return mdir_file_write_replace(path, text, len, error);
}
