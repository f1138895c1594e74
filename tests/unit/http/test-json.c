/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "http/http.h"

static const char *const allowed[] = {"name", "vcpus", "memory", "start", "tags", "meta", NULL};

static int parse(const char *s, json_t **ret, struct carve_error *err)
{
	carve_err_clear(err);
	return json_parse_object(s, strlen(s), allowed, ret, err);
}

static void expect_fail(const char *s, const char *msg_part)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;

	assert_int_equal(parse(s, &v, &err), -EINVAL);
	assert_null(v);
	if (!strstr(err.msg, msg_part))
		fail_msg("'%.60s': message '%s' lacks '%s'", s, err.msg, msg_part);
}

static char *nested(unsigned depth)
{
	/* {"meta":[[[...]]]} with depth levels in total */
	size_t n = depth * 2 + 16;
	char *s = calloc(1, n);
	size_t o = 0;

	o += (size_t)snprintf(s + o, n - o, "{\"meta\":");
	for (unsigned i = 1; i < depth; i++)
		s[o++] = '[';
	for (unsigned i = 1; i < depth; i++)
		s[o++] = ']';
	s[o++] = '}';
	return s;
}

static void test_valid(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;

	assert_int_equal(parse("{\"name\":\"web1\",\"vcpus\":2,\"start\":true}", &v, &err), 0);
	assert_true(json_is_object(v));
	assert_int_equal(json_object_size(v), 3);
	json_decref(v);

	assert_int_equal(parse("  {}  \n", &v, &err), 0);
	json_decref(v);

	/* brackets inside strings do not count as nesting */
	assert_int_equal(
		parse("{\"name\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\\\"\"}", &v, &err), 0);
	json_decref(v);

	/* NULL allows any key */
	assert_int_equal(json_parse_object("{\"zzz\":1}", 9, NULL, &v, &err), 0);
	json_decref(v);
}

static void test_invalid(void **state)
{
	expect_fail("", "empty body");
	expect_fail("garbage", "malformed JSON at line 1 column");
	expect_fail("{\"name\": }", "malformed JSON at line 1 column 10");
	expect_fail("{\"name\":\"a\"} trailing", "malformed JSON");
	expect_fail("[1,2]", "expected a JSON object, got an array");
	expect_fail("\"str\"", "expected a JSON object, got a string");
	expect_fail("42", "expected a JSON object");
	expect_fail("null", "expected a JSON object");
	expect_fail("{\"name\":\"a\",\"name\":\"b\"}", "duplicate");
	expect_fail("{\"vcpus\":18446744073709551616}", "malformed JSON");
	expect_fail("{\"name\":\"\\u0000\"}", "malformed JSON");
	expect_fail("{\"name\":\"\xff\"}", "malformed JSON");
}

static void test_nul_inside(void **state)
{
	static const char body[] = "{\"name\":\"a\"}\0{}";
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;

	assert_int_equal(json_parse_object(body, sizeof(body) - 1, allowed, &v, &err), -EINVAL);
	assert_null(v);
	assert_non_null(strstr(err.msg, "NUL byte at offset 12"));
	/* without the NUL the prefix is fine */
	assert_int_equal(json_parse_object(body, 12, allowed, &v, &err), 0);
	json_decref(v);
}

static void test_depth(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;
	char *s;

	s = nested(JSON_DEPTH_MAX);
	assert_int_equal(parse(s, &v, &err), 0);
	json_decref(v);
	free(s);

	s = nested(JSON_DEPTH_MAX + 1);
	assert_int_equal(parse(s, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nesting deeper than 16"));
	free(s);

	s = nested(100000);
	assert_int_equal(parse(s, &v, &err), -EINVAL);
	free(s);
}

static void test_unknown_field(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;

	assert_int_equal(parse("{\"name\":\"a\",\"colour\":\"red\"}", &v, &err), -EINVAL);
	assert_null(v);
	assert_string_equal(err.field, "colour");
	assert_string_equal(err.msg, "unknown field 'colour'");

	/* nested keys are the handler's business */
	assert_int_equal(parse("{\"meta\":{\"colour\":\"red\"}}", &v, &err), 0);
	json_decref(v);
}

static void test_long_strings(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	size_t n = JSON_STRING_MAX + 64;
	char *s = malloc(n), *body = malloc(n + 64);
	json_t *v = NULL;

	memset(s, 'x', n);
	s[JSON_STRING_MAX] = '\0';
	snprintf(body, n + 64, "{\"name\":\"%s\"}", s);
	assert_int_equal(parse(body, &v, &err), 0);
	json_decref(v);

	s[JSON_STRING_MAX] = 'x';
	s[JSON_STRING_MAX + 1] = '\0';
	snprintf(body, n + 64, "{\"name\":\"%s\"}", s);
	assert_int_equal(parse(body, &v, &err), -EINVAL);
	assert_string_equal(err.field, "name");

	/* deep inside an array */
	snprintf(body, n + 64, "{\"tags\":[\"a\",[\"%s\"]]}", s);
	assert_int_equal(parse(body, &v, &err), -EINVAL);
	assert_string_equal(err.field, "tags");

	/* as a nested key */
	snprintf(body, n + 64, "{\"meta\":{\"%s\":1}}", s);
	assert_int_equal(parse(body, &v, &err), -EINVAL);
	assert_string_equal(err.field, "meta");

	/* as a top-level key */
	snprintf(body, n + 64, "{\"%s\":1}", s);
	assert_int_equal(parse(body, &v, &err), -EINVAL);
	free(s);
	free(body);
}

static void test_getters(void **state)
{
	struct carve_error err = CARVE_ERROR_INIT;
	json_t *v = NULL;
	const char *str = "untouched";
	uint64_t u = 77;
	bool b = false;

	assert_int_equal(parse("{\"name\":\"web1\",\"vcpus\":4,\"memory\":\"2G\",\"start\":true,"
			       "\"tags\":null}",
			       &v, &err),
			 0);

	assert_int_equal(json_get_string(v, "name", true, 63, &str, &err), 0);
	assert_string_equal(str, "web1");
	assert_int_equal(json_get_string(v, "name", true, 3, &str, &err), -EINVAL);
	assert_string_equal(err.field, "name");
	carve_err_clear(&err);
	assert_int_equal(json_get_string(v, "vcpus", true, 0, &str, &err), -EINVAL);
	assert_string_equal(err.field, "vcpus");
	carve_err_clear(&err);

	str = "untouched";
	assert_int_equal(json_get_string(v, "missing", false, 0, &str, &err), 0);
	assert_string_equal(str, "untouched");
	assert_int_equal(json_get_string(v, "missing", true, 0, &str, &err), -EINVAL);
	assert_string_equal(err.field, "missing");
	carve_err_clear(&err);
	/* null counts as absent */
	assert_int_equal(json_get_string(v, "tags", false, 0, &str, &err), 0);
	assert_string_equal(str, "untouched");

	assert_int_equal(json_get_uint(v, "vcpus", true, 1, 64, &u, &err), 0);
	assert_int_equal(u, 4);
	assert_int_equal(json_get_uint(v, "vcpus", true, 8, 64, &u, &err), -EINVAL);
	assert_string_equal(err.msg, "'vcpus': must be an integer between 8 and 64");
	assert_string_equal(err.field, "vcpus");
	assert_int_equal(u, 4);
	carve_err_clear(&err);
	assert_int_equal(json_get_uint(v, "memory", true, 0, UINT64_MAX, &u, &err), -EINVAL);
	carve_err_clear(&err);
	u = 77;
	assert_int_equal(json_get_uint(v, "missing", false, 0, 1, &u, &err), 0);
	assert_int_equal(u, 77);

	assert_int_equal(json_get_bool(v, "start", true, &b, &err), 0);
	assert_true(b);
	assert_int_equal(json_get_bool(v, "name", true, &b, &err), -EINVAL);
	assert_string_equal(err.field, "name");
	carve_err_clear(&err);
	json_decref(v);

	/* reals, negatives and strings are not unsigned integers */
	static const char *const bad_uints[] = {
		"{\"vcpus\":-1}",   "{\"vcpus\":1.0}", "{\"vcpus\":1e3}", "{\"vcpus\":\"2\"}",
		"{\"vcpus\":true}", "{\"vcpus\":65}",  "{\"vcpus\":0}",
	};
	for (size_t i = 0; i < sizeof(bad_uints) / sizeof(bad_uints[0]); i++) {
		assert_int_equal(parse(bad_uints[i], &v, &err), 0);
		carve_err_clear(&err);
		assert_int_equal(json_get_uint(v, "vcpus", true, 1, 64, &u, &err), -EINVAL);
		assert_string_equal(err.msg, "'vcpus': must be an integer between 1 and 64");
		json_decref(v);
	}
	assert_int_equal(parse("{\"vcpus\":9223372036854775807}", &v, &err), 0);
	assert_int_equal(json_get_uint(v, "vcpus", true, 0, UINT64_MAX, &u, &err), 0);
	assert_true(u == INT64_MAX);
	json_decref(v);

	/* not an object */
	assert_int_equal(json_get_uint(NULL, "vcpus", true, 0, 1, &u, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	      cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_nul_inside),    cmocka_unit_test(test_depth),
		cmocka_unit_test(test_unknown_field), cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_getters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
