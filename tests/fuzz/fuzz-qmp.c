/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP line reader and message classifier (src/vm/qmp.c) on arbitrary bytes fed in arbitrary
 * chunks. Invariants: the lines that come out are exactly the input split at "\n" (one trailing
 * "\r" removed), none is longer than the limit, -EMSGSIZE comes exactly when a line (or the
 * unfinished tail) is over the limit, and the classifier accepts only JSON objects of a QMP kind.
 */
#include <string.h>

#include "fuzz.h"
#include "vm/vm.h"

static void check_parse(const char *line)
{
	enum vm_qmp_msg_kind kind = _VM_QMP_MSG_INVALID;
	json_t *m = NULL;
	char id[16];
	int r = vm_qmp_parse_line(line, &kind, &m, id, sizeof(id));

	fuzz_assert(r == 0 || r == -EBADMSG);
	if (r < 0) {
		fuzz_assert(m == NULL);
		return;
	}
	fuzz_assert(json_is_object(m));
	fuzz_assert(kind >= 0 && kind < _VM_QMP_MSG_MAX);
	fuzz_assert(strlen(id) < sizeof(id));
	if (kind == VM_QMP_MSG_EVENT)
		fuzz_assert(json_is_string(json_object_get(m, "event")));
	if (kind == VM_QMP_MSG_GREETING)
		fuzz_assert(json_is_object(json_object_get(m, "QMP")));
	json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_qmp_reader r = {};
	size_t chunk, pos = 0, expect_pos;
	bool refused = false;

	if (size < 2)
		return 0;
	r.max = 1 + (size_t)data[0] * 4; /* small limit so the fuzzer reaches it */
	chunk = 1 + data[1] % 16;
	data += 2;
	size -= 2;
	expect_pos = 0;

	while (pos < size && !refused) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		int k = vm_qmp_reader_push(&r, data + pos, n);
		fuzz_assert(k == 0 || k == -EMSGSIZE);
		if (k < 0) {
			refused = true;
			break;
		}
		pos += n;
		for (;;) {
			char *line = NULL;
			const uint8_t *nl;
			size_t want;
			k = vm_qmp_reader_pop(&r, &line);
			fuzz_assert(k == 0 || k == 1 || k == -EMSGSIZE);
			if (k == -EMSGSIZE) {
				refused = true;
				break;
			}
			if (k == 0)
				break;
			/* the reference split */
			nl = memchr(data + expect_pos, '\n', size - expect_pos);
			fuzz_assert(nl != NULL);
			want = (size_t)(nl - (data + expect_pos));
			if (want > 0 && data[expect_pos + want - 1] == '\r')
				want--;
			fuzz_assert(want <= r.max);
			fuzz_assert(strlen(line) <= want);
			fuzz_assert(memcmp(line, data + expect_pos, strlen(line)) == 0);
			expect_pos = (size_t)(nl - data) + 1;
			check_parse(line);
			free(line);
		}
	}
	if (!refused) {
		/* everything pushed: what is left is an unfinished line within the limit */
		fuzz_assert(memchr(data + expect_pos, '\n', size - expect_pos) == NULL);
		fuzz_assert(size - expect_pos <= r.max + 1);
	} else {
		/* refused: some line from expect_pos on is really over the limit */
		const uint8_t *p = data + expect_pos, *end = data + size;
		bool over = false;
		while (p < end && !over) {
			const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = (size_t)((nl ? nl : end) - p);
			if (nl && n > 0 && p[n - 1] == '\r')
				n--;
			over = nl ? n > r.max : n > r.max + 1;
			p = nl ? nl + 1 : end;
		}
		fuzz_assert(over);
	}
	vm_qmp_reader_release(&r);
	return 0;
}
