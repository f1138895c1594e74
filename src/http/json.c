/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies: strict JSON objects. jansson alone would accept 2048 levels of nesting and
 * strings of any length, so the body is pre-scanned for depth before jansson sees it and the
 * parsed tree is walked for long strings.
 */
#define LOG_DOMAIN "http"

#include <inttypes.h>
#include <string.h>

#include "base/log.h"
#include "http/http.h"

static json_t *json_decref_null(json_t *v)
{
	json_decref(v);
	return NULL;
}
DEFINE_CLEANUP_FUNC(json_t, json_decref_null)

/* Count '[' and '{' outside strings. The scan does not validate: jansson does that afterwards,
 * the scan only guarantees that jansson never recurses deeper than JSON_DEPTH_MAX. */
static int scan_depth(const char *body, size_t len, size_t *ret_offset)
{
	unsigned depth = 0;
	bool in_string = false, escaped = false;

	for (size_t i = 0; i < len; i++) {
		char c = body[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c) {
		case '"':
			in_string = true;
			break;
		case '[':
		case '{':
			if (++depth > JSON_DEPTH_MAX) {
				*ret_offset = i;
				return -EINVAL;
			}
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 0;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* Depth is bounded by scan_depth(), so the recursion is too. */
static int check_strings(json_t *v, const char *field, struct carve_error *err)
{
	const char *key;
	json_t *child;
	size_t i;
	int r;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) > JSON_STRING_MAX)
			return carve_err_field(err, -EINVAL, field,
					       "'%s': string longer than %d bytes", field,
					       JSON_STRING_MAX);
		return 0;
	case JSON_OBJECT:
		json_object_foreach (v, key, child) {
			if (strlen(key) > JSON_STRING_MAX)
				return carve_err_field(err, -EINVAL, field,
						       "'%s': key longer than %d bytes", field,
						       JSON_STRING_MAX);
			r = check_strings(child, field, err);
			if (r < 0)
				return r;
		}
		return 0;
	case JSON_ARRAY:
		json_array_foreach (v, i, child) {
			r = check_strings(child, field, err);
			if (r < 0)
				return r;
		}
		return 0;
	default:
		return 0;
	}
}

static bool key_allowed(const char *key, const char *const *allowed)
{
	if (!allowed)
		return true;
	for (const char *const *a = allowed; *a; a++)
		if (strcmp(*a, key) == 0)
			return true;
	return false;
}

int json_parse_object(const char *body, size_t len, const char *const *allowed, json_t **ret,
		      struct carve_error *err)
{
	cleanup(json_decref_nullp) json_t *v = NULL;
	json_error_t jerr;
	const char *key;
	const char *nul;
	json_t *child;
	size_t off = 0;
	int r;

	if (!body || len == 0)
		return carve_err(err, -EINVAL, "empty body: expected a JSON object");
	nul = memchr(body, '\0', len);
	if (nul)
		return carve_err(err, -EINVAL, "malformed JSON: NUL byte at offset %zu",
				 (size_t)(nul - body));
	if (scan_depth(body, len, &off) < 0)
		return carve_err(err, -EINVAL,
				 "malformed JSON: nesting deeper than %d at offset %zu",
				 JSON_DEPTH_MAX, off);

	v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		return carve_err(err, -EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	if (!json_is_object(v))
		return carve_err(err, -EINVAL, "expected a JSON object, got %s", json_type_name(v));

	json_object_foreach (v, key, child) {
		if (strlen(key) > JSON_STRING_MAX)
			return carve_err(err, -EINVAL, "key longer than %d bytes", JSON_STRING_MAX);
		if (!key_allowed(key, allowed))
			return carve_err_field(err, -EINVAL, key, "unknown field '%s'", key);
		r = check_strings(child, key, err);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(v);
	return 0;
}

/* NULL when absent or JSON null; -EINVAL (field named) when required. */
static int lookup(json_t *obj, const char *key, bool required, json_t **ret,
		  struct carve_error *err)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (!v || json_is_null(v)) {
		*ret = NULL;
		if (required)
			return carve_err_field(err, -EINVAL, key, "'%s': required field is missing",
					       key);
		return 0;
	}
	*ret = v;
	return 0;
}

int json_get_string(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
		    struct carve_error *err)
{
	json_t *v;
	int r;

	r = lookup(obj, key, required, &v, err);
	if (r < 0 || !v)
		return r;
	if (!json_is_string(v))
		return carve_err_field(err, -EINVAL, key, "'%s': must be a string, not %s", key,
				       json_type_name(v));
	if (max_len == 0)
		max_len = JSON_STRING_MAX;
	if (json_string_length(v) > max_len)
		return carve_err_field(err, -EINVAL, key, "'%s': longer than %zu characters", key,
				       max_len);
	*ret = json_string_value(v);
	return 0;
}

int json_get_uint(json_t *obj, const char *key, bool required, uint64_t min, uint64_t max,
		  uint64_t *ret, struct carve_error *err)
{
	json_int_t i;
	json_t *v;
	int r;

	r = lookup(obj, key, required, &v, err);
	if (r < 0 || !v)
		return r;
	if (!json_is_integer(v))
		goto bad;
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		goto bad;
	*ret = (uint64_t)i;
	return 0;
bad:
	return carve_err_field(err, -EINVAL, key,
			       "'%s': must be an integer between %" PRIu64 " and %" PRIu64, key,
			       min, max);
}

int json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct carve_error *err)
{
	json_t *v;
	int r;

	r = lookup(obj, key, required, &v, err);
	if (r < 0 || !v)
		return r;
	if (!json_is_boolean(v))
		return carve_err_field(err, -EINVAL, key, "'%s': must be true or false, not %s",
				       key, json_type_name(v));
	*ret = json_is_true(v);
	return 0;
}
