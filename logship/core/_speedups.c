/* The compiled hot path of logship's codec (docs/speedups.md).
 *
 * The pure-Python modules logship/core/tokenize.py, event.py and parse.py
 * are the reference; this module does the same work for the common inputs
 * and hands everything else back to them:
 *
 *   split        the tokenizer's whole rule (IPv6 heads included), byte
 *                by byte;
 *   encode, encode_fields
 *                the serialized event, written in one buffer;
 *   decode, decode_with_tokens, check_event
 *                the layout walked, the message rebuilt and crc-checked;
 *                check_event does it without building the message object
 *                or the Event;
 *   parse_line   the "[<PRI>]Mmm dd hh:mm:ss HOST TAG" fast path of
 *                parse.py, the rest given back to Python;
 *   crc32        the crc of the message (same as zlib.crc32).
 *
 * Whenever an input is not of the exact common types, or would raise, the
 * pure-Python function is called instead with the same arguments: errors
 * (class and message) and odd inputs are the reference's by construction.
 * Event and Parsed values are made without running their __init__: the
 * slots of the dataclasses are filled directly (they have no
 * __post_init__, so the result is the same object state).
 *
 * The Python side hands this module its classes and fallbacks once, at
 * import (configure_tokenize, configure_event, configure_parse).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

/* ------------------------------------------------------------------ */
/* Configuration handed over by the Python modules                      */

static PyObject *pure_split;        /* tokenize.split (the reference) */

static PyTypeObject *event_type;    /* event.Event */
static PyObject *corrupt_event;     /* event.CorruptEvent */
static PyObject *pure_encode;       /* event.encode */
static PyObject *pure_encode_fields;
static PyObject *pure_decode;
static PyObject *pure_decode_with_tokens;
static PyObject *pure_check_event;
#define EVENT_FIELDS 9
static Py_ssize_t event_offsets[EVENT_FIELDS];
static const char *event_names[EVENT_FIELDS] = {
    "point", "pri", "shn", "app", "pid", "message", "continued", "structured", "origin"};

static PyTypeObject *parsed_type;   /* parse.Parsed */
static PyObject *pure_parse_line;   /* parse.parse_line */
#define PARSED_FIELDS 8
static Py_ssize_t parsed_offsets[PARSED_FIELDS];
static const char *parsed_names[PARSED_FIELDS] = {
    "point", "resolution", "pri", "host", "app", "pid", "message", "structured"};

static PyObject *empty_bytes;
static PyObject *ticks_per_second;  /* 10**8 */

#define FORMAT_VERSION 2
#define LEGACY_VERSION 1
#define ORIGIN_SIZE 12
#define VERSION_MASK 0x1F
#define FLAG_CONTINUED 0x80
#define FLAG_PID 0x40
#define FLAG_STRUCTURED 0x20
#define MAX_EVENT_SIZE 0xFFFF
#define MAX_NAME 255
#define TICKS 100000000ULL
#define MAX_SECONDS 184467440737LL /* (2**64 - 1) // 10**8 */
#define PRI_NONE 255

/* ------------------------------------------------------------------ */
/* Slots of the dataclasses                                           */

static int
slot_offsets(PyTypeObject *type, const char **names, Py_ssize_t *offsets, int count)
{
    for (int i = 0; i < count; i++) {
        PyObject *descr = PyDict_GetItemString(type->tp_dict, names[i]);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "%s has no slot %s", type->tp_name, names[i]);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || member->flags & READONLY) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a plain slot", type->tp_name, names[i]);
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

/* A new instance with every slot set; steals the references in values. */
static PyObject *
fill_slots(PyTypeObject *type, const Py_ssize_t *offsets, PyObject **values, int count)
{
    PyObject *obj = NULL;
    for (int i = 0; i < count; i++) {
        if (values[i] == NULL)
            goto fail;
    }
    obj = type->tp_alloc(type, 0);
    if (obj == NULL)
        goto fail;
    for (int i = 0; i < count; i++)
        *(PyObject **)((char *)obj + offsets[i]) = values[i];
    return obj;
fail:
    for (int i = 0; i < count; i++)
        Py_XDECREF(values[i]);
    return NULL;
}

static inline PyObject *
get_slot(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

/* ------------------------------------------------------------------ */
/* crc32 (the zlib/ISO-HDLC one), slicing by 8                          */

static uint32_t crc_table[8][256];

static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xFF] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
}

static uint32_t
crc_update(uint32_t crc, const unsigned char *p, Py_ssize_t n)
{
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
                            | (uint32_t)p[3] << 24);
        uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16
                     | (uint32_t)p[7] << 24;
        crc = crc_table[7][a & 0xFF] ^ crc_table[6][(a >> 8) & 0xFF]
              ^ crc_table[5][(a >> 16) & 0xFF] ^ crc_table[4][a >> 24]
              ^ crc_table[3][b & 0xFF] ^ crc_table[2][(b >> 8) & 0xFF]
              ^ crc_table[1][(b >> 16) & 0xFF] ^ crc_table[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static PyObject *
sp_crc32(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    uint32_t crc = crc_update(0, view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

/* ------------------------------------------------------------------ */
/* The tokenizer (tokenize.py's rule, byte by byte)                   */

static unsigned char word[256];      /* 0-9 A-Z a-z _ and >= 0x80 */
static unsigned char path_head[256]; /* a word byte that is not a digit */
static unsigned char connector[256]; /* . - / @ */
static unsigned char hex_digit[256]; /* 0-9 A-F a-f */

static void
tables_init(void)
{
    for (int c = 0; c < 256; c++) {
        word[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                  || c == '_' || c >= 0x80;
        path_head[c] = word[c] && !(c >= '0' && c <= '9');
        connector[c] = c == '.' || c == '-' || c == '/' || c == '@';
        hex_digit[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    }
}

/* Spans of a cut message: gap, token, gap, ..., gap (2k + 1 of them). */
typedef struct {
    Py_ssize_t count;
    Py_ssize_t capacity;
    Py_ssize_t *at;  /* count + 1 boundaries: part i is [at[i], at[i + 1]) */
    Py_ssize_t local[130];
} Spans;

static void
spans_init(Spans *spans)
{
    spans->count = 0;
    spans->capacity = sizeof(spans->local) / sizeof(spans->local[0]);
    spans->at = spans->local;
    spans->at[0] = 0;
}

static void
spans_free(Spans *spans)
{
    if (spans->at != spans->local)
        PyMem_Free(spans->at);
}

static int
spans_push(Spans *spans, Py_ssize_t end)
{
    if (spans->count + 2 > spans->capacity) {
        Py_ssize_t capacity = spans->capacity * 2;
        Py_ssize_t *at = PyMem_Malloc(capacity * sizeof(Py_ssize_t));
        if (at == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(at, spans->at, (spans->count + 1) * sizeof(Py_ssize_t));
        spans_free(spans);
        spans->at = at;
        spans->capacity = capacity;
    }
    spans->at[++spans->count] = end;
    return 0;
}

/* X{1,4}+ at p (a possessive hex group): its end, or -1 without a hex digit. */
static inline Py_ssize_t
hex_group(const unsigned char *s, Py_ssize_t n, Py_ssize_t p)
{
    Py_ssize_t q = p;
    while (q < n && q - p < 4 && hex_digit[s[q]])
        q++;
    return q > p ? q : -1;
}

/* (?::H){0,6}+ from p: where the repeats end. */
static Py_ssize_t
colon_groups(const unsigned char *s, Py_ssize_t n, Py_ssize_t p)
{
    for (int k = 0; k < 6 && p < n && s[p] == ':'; k++) {
        Py_ssize_t q = hex_group(s, n, p + 1);
        if (q < 0)
            break;
        p = q;
    }
    return p;
}

/* The end of an IPv6 address at p: an optional zone (% and word bytes),
 * then no word byte.  Its end, or -1. */
static Py_ssize_t
ipv6_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t p)
{
    if (p + 1 < n && s[p] == '%' && word[s[p + 1]]) {
        p += 2;
        while (p < n && word[s[p]])
            p++;
        return p;
    }
    return p < n && word[s[p]] ? -1 : p;
}

/* Head 1a at i (s[i] a hex digit): exactly 8 groups, else groups around
 * one "::".  The head's end, or -1. */
static Py_ssize_t
ipv6_from_hex(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t first = hex_group(s, n, i);
    if (first >= n || s[first] != ':')
        return -1;
    Py_ssize_t p = first + 1;
    int k = 0;
    for (; k < 6; k++) {
        Py_ssize_t q = hex_group(s, n, p);
        if (q < 0 || q >= n || s[q] != ':')
            break;
        p = q + 1;
    }
    if (k == 6) {
        Py_ssize_t q = hex_group(s, n, p);
        Py_ssize_t end = q < 0 ? -1 : ipv6_end(s, n, q);
        if (end >= 0)
            return end;
    }
    p = colon_groups(s, n, first);
    if (p + 1 >= n || s[p] != ':' || s[p + 1] != ':')
        return -1;
    p += 2;
    Py_ssize_t q = hex_group(s, n, p);
    if (q >= 0)
        p = colon_groups(s, n, q);
    return ipv6_end(s, n, p);
}

/* Head 1b at i (s[i] a colon): "::" and groups, not after a word byte or a
 * colon.  The head's end, or -1. */
static Py_ssize_t
ipv6_from_colons(const unsigned char *s, Py_ssize_t n, Py_ssize_t i)
{
    if ((i > 0 && (word[s[i - 1]] || s[i - 1] == ':')) || i + 1 >= n || s[i + 1] != ':')
        return -1;
    Py_ssize_t q = hex_group(s, n, i + 2);
    return q < 0 ? -1 : ipv6_end(s, n, colon_groups(s, n, q));
}

/* Cut s into spans by the whole rule, the IPv6 heads included. */
static int
cut(const unsigned char *s, Py_ssize_t n, Spans *spans)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        Py_ssize_t j = -1;
        if (word[c]) {
            if (hex_digit[c])
                j = ipv6_from_hex(s, n, i);
            if (j < 0) {
                j = i + 1;
                while (j < n && word[s[j]])
                    j++;
            }
        }
        else if (c == ':') {
            j = ipv6_from_colons(s, n, i);
        }
        else if (c == '-') {
            if (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
                j = i + 1;
        }
        else if (c == '/') {
            if (!(i > 0 && (s[i - 1] == '/' || s[i - 1] == '.' || s[i - 1] == '~'))
                && i + 1 < n && path_head[s[i + 1]])
                j = i + 1;
        }
        if (j < 0) {
            i++;
            continue;
        }
        while (j < n && word[s[j]])
            j++;
        while (j + 1 < n && connector[s[j]] && word[s[j + 1]]) {
            j += 2;
            while (j < n && word[s[j]])
                j++;
        }
        if (spans_push(spans, i) < 0 || spans_push(spans, j) < 0)
            return -1;
        i = j;
    }
    return spans_push(spans, n);
}

static PyObject *
sp_split(PyObject *self, PyObject *message)
{
    if (pure_split == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_tokenize was not called");
        return NULL;
    }
    if (!PyBytes_CheckExact(message))
        return PyObject_CallOneArg(pure_split, message);
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(message);
    Py_ssize_t n = PyBytes_GET_SIZE(message);
    Spans spans;
    spans_init(&spans);
    if (cut(s, n, &spans) < 0) {
        spans_free(&spans);
        return NULL;
    }
    PyObject *list = PyList_New(spans.count);
    if (list == NULL) {
        spans_free(&spans);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < spans.count; k++) {
        PyObject *part = PyBytes_FromStringAndSize(
            (const char *)s + spans.at[k], spans.at[k + 1] - spans.at[k]);
        if (part == NULL) {
            Py_DECREF(list);
            spans_free(&spans);
            return NULL;
        }
        PyList_SET_ITEM(list, k, part);
    }
    spans_free(&spans);
    return list;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */

static inline void
put16(unsigned char *p, Py_ssize_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* Bytes argument check: exact bytes, else the reference decides. */
#define EXACT_BYTES(o) PyBytes_CheckExact(o)

/* 1: serialized into *out; 0: not the fast path (the caller asks Python);
 * -1: an error is set. */
static int
encode_fast(PyObject *point_o, PyObject *pri_o, PyObject *shn, PyObject *app, PyObject *pid,
            PyObject *message, int continued, int structured, PyObject *origin,
            PyObject **out)
{
    if (!PyLong_CheckExact(point_o) || !PyLong_CheckExact(pri_o) || !EXACT_BYTES(shn)
        || !EXACT_BYTES(app) || !(pid == Py_None || EXACT_BYTES(pid)) || !EXACT_BYTES(message)
        || !EXACT_BYTES(origin) || pure_split == NULL)
        return 0;
    unsigned long long point = PyLong_AsUnsignedLongLong(point_o);
    if (point == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    long pri = PyLong_AsLong(pri_o);
    if (pri < 0 || pri > 255) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t origin_size = PyBytes_GET_SIZE(origin);
    if (origin_size != 0 && origin_size != ORIGIN_SIZE)
        return 0;
    Py_ssize_t shn_size = PyBytes_GET_SIZE(shn), app_size = PyBytes_GET_SIZE(app);
    if (shn_size > MAX_NAME || app_size > MAX_NAME)
        return 0;
    const char *pid_s = NULL;
    Py_ssize_t pid_size = 0;
    if (pid != Py_None) {
        pid_s = PyBytes_AS_STRING(pid);
        pid_size = PyBytes_GET_SIZE(pid);
        if (pid_size == 0 || pid_size > MAX_NAME || memchr(pid_s, ' ', pid_size) != NULL)
            return 0;
    }
    Spans spans;
    spans_init(&spans);
    if (cut((const unsigned char *)PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message),
            &spans) < 0) {
        spans_free(&spans);
        return -1;
    }
    const unsigned char *m = (const unsigned char *)PyBytes_AS_STRING(message);
    Py_ssize_t msize = PyBytes_GET_SIZE(message);
    Py_ssize_t k = spans.count / 2; /* tokens */
    Py_ssize_t token_bytes = 0;
    for (Py_ssize_t t = 1; t < spans.count; t += 2)
        token_bytes += spans.at[t + 1] - spans.at[t];
    Py_ssize_t line_size = msize - token_bytes;
    Py_ssize_t tokens_size = token_bytes + (k > 0 ? k - 1 : 0);
    if (pid != Py_None)
        tokens_size = k > 0 ? pid_size + 1 + tokens_size : pid_size;
    Py_ssize_t marks_size = (line_size >> 3) + 1;
    Py_ssize_t total = 14 + origin_size + 1 + shn_size + 1 + app_size + 2 + marks_size + 2
                       + tokens_size + 2 + line_size;
    if (line_size > 0xFFFF || tokens_size > 0xFFFF || total > MAX_EVENT_SIZE) {
        spans_free(&spans);
        return 0;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        spans_free(&spans);
        return -1;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(result);
    int vb = origin_size ? FORMAT_VERSION : LEGACY_VERSION;
    if (pid != Py_None)
        vb |= FLAG_PID;
    if (continued)
        vb |= FLAG_CONTINUED;
    if (structured)
        vb |= FLAG_STRUCTURED;
    uint32_t crc = crc_update(0, m, msize);
    p[0] = (unsigned char)vb;
    for (int b = 0; b < 8; b++)
        p[1 + b] = (unsigned char)(point >> (56 - 8 * b));
    p[9] = (unsigned char)(crc >> 24);
    p[10] = (unsigned char)(crc >> 16);
    p[11] = (unsigned char)(crc >> 8);
    p[12] = (unsigned char)crc;
    p[13] = (unsigned char)pri;
    p += 14;
    memcpy(p, PyBytes_AS_STRING(origin), origin_size);
    p += origin_size;
    *p++ = (unsigned char)shn_size;
    memcpy(p, PyBytes_AS_STRING(shn), shn_size);
    p += shn_size;
    *p++ = (unsigned char)app_size;
    memcpy(p, PyBytes_AS_STRING(app), app_size);
    p += app_size;
    /* marks: bit at each token's position in the line, MSB first */
    put16(p, marks_size);
    p += 2;
    unsigned char *marks = p;
    memset(marks, 0, marks_size);
    p += marks_size;
    put16(p, tokens_size);
    p += 2;
    unsigned char *tokens = p;
    p += tokens_size;
    put16(p, line_size);
    p += 2;
    unsigned char *line = p;
    if (pid != Py_None) {
        memcpy(tokens, pid_s, pid_size);
        tokens += pid_size;
        if (k > 0)
            *tokens++ = ' ';
    }
    Py_ssize_t position = 0;
    for (Py_ssize_t t = 0; t < spans.count; t++) {
        Py_ssize_t a = spans.at[t], size = spans.at[t + 1] - a;
        if (t & 1) {
            marks[position >> 3] |= (unsigned char)(0x80 >> (position & 7));
            if (t > 1)
                *tokens++ = ' ';
            memcpy(tokens, m + a, size);
            tokens += size;
        }
        else {
            memcpy(line, m + a, size);
            line += size;
            position += size;
        }
    }
    spans_free(&spans);
    *out = result;
    return 1;
}

static PyObject *
sp_encode(PyObject *self, PyObject *event)
{
    if (event_type == NULL || !Py_IS_TYPE(event, event_type))
        return PyObject_CallOneArg(pure_encode, event);
    PyObject *f[EVENT_FIELDS];
    for (int i = 0; i < EVENT_FIELDS; i++) {
        f[i] = get_slot(event, event_offsets[i]);
        if (f[i] == NULL)
            return PyObject_CallOneArg(pure_encode, event);
    }
    if (!PyBool_Check(f[6]) || !PyBool_Check(f[7]))
        return PyObject_CallOneArg(pure_encode, event);
    PyObject *out = NULL;
    int done = encode_fast(f[0], f[1], f[2], f[3], f[4], f[5], f[6] == Py_True,
                           f[7] == Py_True, f[8], &out);
    if (done < 0)
        return NULL;
    if (done == 0)
        return PyObject_CallOneArg(pure_encode, event);
    return out;
}

static PyObject *
sp_encode_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    /* point, pri, shn, app, pid, message, continued=False, structured=False, origin=b"" */
    static const char *names[9] = {"point", "pri", "shn", "app", "pid", "message",
                                   "continued", "structured", "origin"};
    PyObject *v[9] = {NULL, NULL, NULL, NULL, NULL, NULL, Py_False, Py_False, empty_bytes};
    int ok = nargs <= 9;
    for (Py_ssize_t i = 0; ok && i < nargs; i++)
        v[i] = args[i];
    if (ok && kwnames != NULL) {
        for (Py_ssize_t j = 0; ok && j < PyTuple_GET_SIZE(kwnames); j++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, j);
            int found = 0;
            for (int i = (int)nargs; i < 9; i++) {
                if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                    if (v[i] != NULL && i < 6)
                        break;
                    v[i] = args[nargs + j];
                    found = 1;
                    break;
                }
            }
            ok = found;
        }
    }
    for (int i = 0; ok && i < 6; i++)
        ok = v[i] != NULL;
    if (ok && (!PyBool_Check(v[6]) || !PyBool_Check(v[7])))
        ok = 0;
    if (ok) {
        PyObject *out = NULL;
        int done = encode_fast(v[0], v[1], v[2], v[3], v[4], v[5], v[6] == Py_True,
                               v[7] == Py_True, v[8], &out);
        if (done < 0)
            return NULL;
        if (done)
            return out;
    }
    return PyObject_Vectorcall(pure_encode_fields, args, nargs, kwnames);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */

typedef struct {
    const unsigned char *d;
    Py_ssize_t size;
    int vb;
    unsigned long long point;
    uint32_t crc;
    int pri;
    Py_ssize_t names_at;  /* where shn's length is */
    Py_ssize_t shn_at, shn_size, app_at, app_size;
    Py_ssize_t marks_at, marks_size, tokens_at, tokens_size, line_at, line_size;
    /* after rebuilding */
    Py_ssize_t pid_size;  /* -1: no pid */
    Py_ssize_t message_size;
} Layout;

/* 1: the layout is sound and its sizes add up; 0: not (Python raises). */
static int
walk(Layout *x)
{
    const unsigned char *d = x->d;
    Py_ssize_t size = x->size;
    if (size < 14)
        return 0;
    x->vb = d[0];
    x->point = 0;
    for (int b = 1; b <= 8; b++)
        x->point = x->point << 8 | d[b];
    x->crc = (uint32_t)d[9] << 24 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 8 | d[12];
    x->pri = d[13];
    int version = x->vb & VERSION_MASK;
    if (version == FORMAT_VERSION)
        x->names_at = 14 + ORIGIN_SIZE;
    else if (version == LEGACY_VERSION)
        x->names_at = 14;
    else
        return 0;
    Py_ssize_t o = x->names_at;
    if (o >= size)
        return 0;
    x->shn_at = o + 1;
    x->shn_size = d[o];
    o = x->shn_at + x->shn_size;
    if (o >= size)
        return 0;
    x->app_at = o + 1;
    x->app_size = d[o];
    o = x->app_at + x->app_size;
    if (o + 1 >= size)
        return 0;
    x->marks_size = d[o] << 8 | d[o + 1];
    x->marks_at = o + 2;
    o = x->marks_at + x->marks_size;
    if (o + 1 >= size)
        return 0;
    x->tokens_size = d[o] << 8 | d[o + 1];
    x->tokens_at = o + 2;
    o = x->tokens_at + x->tokens_size;
    if (o + 1 >= size)
        return 0;
    x->line_size = d[o] << 8 | d[o + 1];
    x->line_at = o + 2;
    if (x->line_at + x->line_size != size)
        return 0;
    return 1;
}

/* Check the tokens against the marks (and the pid); the message's size. */
static int
check_tokens(Layout *x)
{
    const unsigned char *tokens = x->d + x->tokens_at;
    Py_ssize_t ts = x->tokens_size;
    Py_ssize_t count = ts ? 1 : 0; /* tokens.split(b" ") if tokens else [] */
    for (Py_ssize_t i = 0; i < ts; i++)
        count += tokens[i] == ' ';
    Py_ssize_t token_bytes = ts - (count ? count - 1 : 0);
    x->pid_size = -1;
    if (x->vb & FLAG_PID) {
        if (count == 0)
            return 0;
        const unsigned char *space = memchr(tokens, ' ', ts);
        Py_ssize_t first = space ? space - tokens : ts;
        if (first == 0)
            return 0;
        x->pid_size = first;
        count--;
        token_bytes -= first;
    }
    Py_ssize_t ll = x->line_size;
    if (x->marks_size != (ll >> 3) + 1)
        return 0;
    const unsigned char *marks = x->d + x->marks_at;
    Py_ssize_t bits = 0;
    for (Py_ssize_t i = 0; i < x->marks_size; i++)
        bits += __builtin_popcount(marks[i]);
    if (bits != 0) {
        /* the last marked position must be within the line */
        Py_ssize_t last = x->marks_size - 1;
        while (marks[last] == 0)
            last--;
        int low = __builtin_ctz(marks[last]);
        if (last * 8 + (7 - low) > ll)
            return 0;
    }
    if (bits != count)
        return 0;
    x->message_size = ll + token_bytes;
    return 1;
}

/* Write the message (the line with the tokens put back) into out. */
static void
rebuild(const Layout *x, unsigned char *out)
{
    const unsigned char *line = x->d + x->line_at;
    const unsigned char *marks = x->d + x->marks_at;
    const unsigned char *tok = x->d + x->tokens_at;
    const unsigned char *tok_end = tok + x->tokens_size;
    if (x->pid_size >= 0)
        tok += x->pid_size + 1; /* past the pid and its space (if any) */
    Py_ssize_t from = 0;
    for (Py_ssize_t i = 0; i < x->marks_size; i++) {
        unsigned int byte = marks[i];
        while (byte) {
            int bit = 7 - (31 - __builtin_clz(byte)); /* MSB first */
            byte &= ~(0x80u >> bit);
            Py_ssize_t position = i * 8 + bit;
            memcpy(out, line + from, position - from);
            out += position - from;
            from = position;
            const unsigned char *space = memchr(tok, ' ', tok_end - tok);
            const unsigned char *stop = space ? space : tok_end;
            memcpy(out, tok, stop - tok);
            out += stop - tok;
            tok = stop + 1;
        }
    }
    memcpy(out, line + from, x->line_size - from);
}

static int
get_data(PyObject *data, PyObject **owned)
{
    /* bytes(data) unless it is bytes already, as event.decode does */
    if (PyBytes_CheckExact(data)) {
        *owned = Py_NewRef(data);
        return 0;
    }
    *owned = PyObject_CallOneArg((PyObject *)&PyBytes_Type, data);
    return *owned == NULL ? -1 : 0;
}

/* The message as a new bytes object, checked against the crc; NULL with no
 * error set when the event is not valid. */
static PyObject *
message_of(Layout *x)
{
    if (!walk(x) || !check_tokens(x))
        return NULL;
    PyObject *message = PyBytes_FromStringAndSize(NULL, x->message_size);
    if (message == NULL)
        return NULL;
    rebuild(x, (unsigned char *)PyBytes_AS_STRING(message));
    if (crc_update(0, (unsigned char *)PyBytes_AS_STRING(message), x->message_size) != x->crc) {
        Py_DECREF(message);
        return NULL;
    }
    return message;
}

static PyObject *
event_of(const Layout *x, PyObject *message)
{
    const char *d = (const char *)x->d;
    PyObject *v[EVENT_FIELDS];
    v[0] = PyLong_FromUnsignedLongLong(x->point);
    v[1] = PyLong_FromLong(x->pri);
    v[2] = PyBytes_FromStringAndSize(d + x->shn_at, x->shn_size);
    v[3] = PyBytes_FromStringAndSize(d + x->app_at, x->app_size);
    v[4] = x->pid_size >= 0 ? PyBytes_FromStringAndSize(d + x->tokens_at, x->pid_size)
                            : Py_NewRef(Py_None);
    v[5] = message;
    v[6] = Py_NewRef(x->vb & FLAG_CONTINUED ? Py_True : Py_False);
    v[7] = Py_NewRef(x->vb & FLAG_STRUCTURED ? Py_True : Py_False);
    v[8] = x->names_at > 14 ? PyBytes_FromStringAndSize(d + 14, x->names_at - 14)
                            : Py_NewRef(empty_bytes);
    return fill_slots(event_type, event_offsets, v, EVENT_FIELDS);
}

/* The Event of a record, its layout in *x and its bytes in *owned (a new
   reference for the caller to release).  A record C does not take goes to
   fallback whole: then *owned is NULL and the result is fallback's. */
static PyObject *
decode_record(PyObject *data, PyObject *fallback, Layout *x, PyObject **owned)
{
    *owned = NULL;
    if (event_type == NULL)
        return PyObject_CallOneArg(fallback, data);
    if (get_data(data, owned) < 0)
        return NULL;
    x->d = (const unsigned char *)PyBytes_AS_STRING(*owned);
    x->size = PyBytes_GET_SIZE(*owned);
    PyObject *message = message_of(x);
    if (message == NULL) {
        Py_CLEAR(*owned);
        if (PyErr_Occurred())
            return NULL;
        return PyObject_CallOneArg(fallback, data); /* raises CorruptEvent */
    }
    PyObject *event = event_of(x, message);
    if (event == NULL)
        Py_CLEAR(*owned);
    return event;
}

static PyObject *
sp_decode(PyObject *self, PyObject *data)
{
    Layout x;
    PyObject *owned;
    PyObject *event = decode_record(data, pure_decode, &x, &owned);
    Py_XDECREF(owned);
    return event;
}

static PyObject *
sp_decode_with_tokens(PyObject *self, PyObject *data)
{
    Layout x;
    PyObject *owned;
    PyObject *event = decode_record(data, pure_decode_with_tokens, &x, &owned);
    if (event == NULL || owned == NULL)
        return event;
    /* the stored tokens, split on single spaces, without the pid */
    const char *t = (const char *)x.d + x.tokens_at;
    const char *end = t + x.tokens_size;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        goto fail;
    if (x.tokens_size) {
        int skip = x.pid_size >= 0;
        for (;;) {
            const char *space = memchr(t, ' ', end - t);
            const char *stop = space ? space : end;
            if (skip)
                skip = 0;
            else {
                PyObject *token = PyBytes_FromStringAndSize(t, stop - t);
                if (token == NULL || PyList_Append(list, token) < 0) {
                    Py_XDECREF(token);
                    goto fail;
                }
                Py_DECREF(token);
            }
            if (space == NULL)
                break;
            t = space + 1;
        }
    }
    Py_DECREF(owned);
    PyObject *pair = PyTuple_Pack(2, event, list);
    Py_DECREF(event);
    Py_DECREF(list);
    return pair;
fail:
    Py_XDECREF(list);
    Py_DECREF(event);
    Py_DECREF(owned);
    return NULL;
}

static PyObject *
sp_check_event(PyObject *self, PyObject *data)
{
    /* what decode accepts, without the Event: the point */
    Py_buffer view;
    if (!PyBytes_CheckExact(data) || event_type == NULL)
        return PyObject_CallOneArg(pure_check_event, data);
    view.buf = PyBytes_AS_STRING(data);
    view.len = PyBytes_GET_SIZE(data);
    Layout x;
    x.d = view.buf;
    x.size = view.len;
    if (!walk(&x) || !check_tokens(&x))
        return PyObject_CallOneArg(pure_check_event, data);
    unsigned char local[4096];
    unsigned char *buffer = x.message_size <= (Py_ssize_t)sizeof(local)
                                ? local
                                : PyMem_Malloc(x.message_size ? x.message_size : 1);
    if (buffer == NULL)
        return PyErr_NoMemory();
    rebuild(&x, buffer);
    uint32_t crc = crc_update(0, buffer, x.message_size);
    if (buffer != local)
        PyMem_Free(buffer);
    if (crc != x.crc)
        return PyObject_CallOneArg(pure_check_event, data);
    return PyLong_FromUnsignedLongLong(x.point);
}

/* ------------------------------------------------------------------ */
/* Parsing: the common header shapes of parse.py, the rest to Python    */
/*                                                                      */
/* Covered: "[<PRI>]Mmm dd hh:mm:ss HOST TAG" (parse_line's fast path), */
/* the ISO 8601 prefixes of _iso (with HOST and TAG after a "T" time;  */
/* not a space time that formats.py may read a level, pid or thread of), */
/* HDFS's "yyMMdd HHmmss" and Apache's "[Www Mmm dd hh:mm:ss yyyy]".    */
/* The minute's start comes from parse.py's own cached functions; a     */
/* C-side memo of the last answer of each saves the call for lines of   */
/* the same minute.  A line C does not take goes to parse_line whole.   */

/* The last answer of one of parse.py's minute functions. */
typedef struct {
    PyObject *tz;            /* a reference, or NULL */
    unsigned char key[64];   /* the arguments, as text and numbers */
    Py_ssize_t key_size;
    int valid;               /* the answer was not None */
    long long start;
} Memo;

enum { MEMO_SYSLOG, MEMO_ISO, MEMO_APACHE, MEMOS };
static Memo memos[MEMOS];

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int
is_letter(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline int
host_char(unsigned char c) /* [!-~\x80-\xff] */
{
    return c > 0x20 && c != 0x7f;
}

static inline int
plain_host_char(unsigned char c) /* parse._HOST_CHARS: [0-9A-Za-z._:\-\x80-\xff] */
{
    return is_digit(c) || is_letter(c) || c == '.' || c == '_' || c == ':' || c == '-'
           || c >= 0x80;
}

/* A key part: its length, then its bytes (so parts cannot run together). */
static void
key_add(unsigned char *key, Py_ssize_t *size, const void *part, Py_ssize_t n)
{
    key[(*size)++] = (unsigned char)n;
    memcpy(key + *size, part, n);
    *size += n;
}

/* Call func(tz, *args) unless the memo has the answer for key.  1: a start
 * in *start; 0: None; -1: an error is set. */
static int
memo_call(Memo *memo, PyObject *func, PyObject *tz, const unsigned char *key,
          Py_ssize_t key_size, PyObject **args, Py_ssize_t nargs, long long *start)
{
    if (memo->tz == tz && memo->key_size == key_size
        && memcmp(memo->key, key, key_size) == 0) {
        *start = memo->start;
        return memo->valid;
    }
    PyObject *call[8];
    call[0] = tz;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (args[i] == NULL)
            return -1;
        call[i + 1] = args[i];
    }
    PyObject *found = PyObject_Vectorcall(func, call, nargs + 1, NULL);
    if (found == NULL)
        return -1;
    int valid = found != Py_None;
    long long value = 0;
    if (valid) {
        int overflow = 0;
        value = PyLong_CheckExact(found) ? PyLong_AsLongLongAndOverflow(found, &overflow) : 0;
        if (!PyLong_CheckExact(found) || overflow || value > MAX_SECONDS
            || value < -MAX_SECONDS) {
            Py_DECREF(found);
            PyErr_SetString(PyExc_OverflowError, "a minute's start out of the fast range");
            return -1;
        }
    }
    Py_DECREF(found);
    Py_XSETREF(memo->tz, Py_NewRef(tz));
    memcpy(memo->key, key, key_size);
    memo->key_size = key_size;
    memo->valid = valid;
    memo->start = value;
    *start = value;
    return valid;
}

static PyObject *
text(const unsigned char *s, Py_ssize_t n)
{
    return PyBytes_FromStringAndSize((const char *)s, n);
}

/* The answer of memo_call, the Python arguments (new references, NULL on a
 * failure to make one) made only on a miss.  A GCC statement expression. */
#define MEMO_CALL(memo, func, tz, key, key_size, out_, ...)                               \
    ({                                                                                    \
        int found_;                                                                       \
        Memo *m_ = (memo);                                                                \
        if (m_->tz == (tz) && m_->key_size == (key_size)                                  \
            && memcmp(m_->key, (key), (key_size)) == 0) {                                 \
            *(out_) = m_->start;                                                          \
            found_ = m_->valid;                                                           \
        }                                                                                 \
        else {                                                                            \
            PyObject *a_[] = {__VA_ARGS__};                                               \
            Py_ssize_t n_ = sizeof(a_) / sizeof(a_[0]);                                   \
            found_ = memo_call(m_, (func), (tz), (key), (key_size), a_, n_, (out_));      \
            for (Py_ssize_t i_ = 0; i_ < n_; i_++)                                        \
                Py_XDECREF(a_[i_]);                                                       \
        }                                                                                 \
        found_;                                                                           \
    })

static PyObject *syslog_minute_f, *iso_minute_f, *apache_minute_f;

/* The whole-second part of "now" as int(now // 1) gives it; 0 if the
 * type is not a float or an int (then Python decides). */
static int
now_seconds(PyObject *now, long long *out)
{
    if (PyFloat_CheckExact(now)) {
        double v = PyFloat_AS_DOUBLE(now);
        if (!(v > -9e18 && v < 9e18))
            return 0;
        *out = (long long)floor(v);
        return 1;
    }
    if (PyLong_CheckExact(now)) {
        int overflow = 0;
        *out = PyLong_AsLongLongAndOverflow(now, &overflow);
        if (overflow || (*out == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        return 1;
    }
    return 0;
}

/* A TAG at p: "name[pid]:" then an optional space, or "name:" then a space
 * or the end (parse._TAG).  1 and the spans, or 0. */
typedef struct {
    Py_ssize_t name_at, name_size, pid_at, pid_size, end;
} Tag;

static int
match_tag(const unsigned char *s, Py_ssize_t n, Py_ssize_t p, Tag *tag)
{
    Py_ssize_t q = p;
    while (q < n && host_char(s[q]) && s[q] != '[' && s[q] != ']' && s[q] != ':')
        q++;
    tag->name_at = p;
    tag->name_size = q - p;
    tag->pid_at = -1;
    tag->pid_size = 0;
    if (tag->name_size < 1 || tag->name_size > 255 || q >= n)
        return 0;
    if (s[q] == '[') {
        Py_ssize_t r = q + 1;
        while (r < n && host_char(s[r]) && s[r] != ']')
            r++;
        Py_ssize_t size = r - (q + 1);
        if (size < 1 || size > 255 || r + 1 >= n || s[r] != ']' || s[r + 1] != ':')
            return 0;
        tag->pid_at = q + 1;
        tag->pid_size = size;
        r += 2;
        if (r < n && s[r] == ' ')
            r++;
        tag->end = r;
        return 1;
    }
    if (s[q] == ':') {
        q++;
        if (q < n) {
            if (s[q] != ' ')
                return 0;
            q++;
        }
        tag->end = q;
        return 1;
    }
    return 0;
}

/* Whether the message at p may begin with RFC 3164 SD (spaces, then "["):
 * such lines are left to Python (parse._after_tag). */
static int
may_be_sd(const unsigned char *s, Py_ssize_t n, Py_ssize_t p)
{
    while (p < n && s[p] == ' ')
        p++;
    return p < n && s[p] == '[';
}

/* A Parsed, or NULL with an error set. */
static PyObject *
make_parsed(PyObject *raw, unsigned long long point, PyObject *resolution, int pri,
            const unsigned char *s, Py_ssize_t host_at, Py_ssize_t host_size, const Tag *tag,
            Py_ssize_t message_at)
{
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    PyObject *v[PARSED_FIELDS];
    v[0] = PyLong_FromUnsignedLongLong(point);
    v[1] = Py_NewRef(resolution);
    v[2] = PyLong_FromLong(pri);
    v[3] = host_at >= 0 ? text(s + host_at, host_size) : Py_NewRef(Py_None);
    v[4] = tag != NULL ? text(s + tag->name_at, tag->name_size) : Py_NewRef(empty_bytes);
    v[5] = tag != NULL && tag->pid_at >= 0 ? text(s + tag->pid_at, tag->pid_size)
                                           : Py_NewRef(Py_None);
    v[6] = message_at == 0 ? Py_NewRef(raw) : text(s + message_at, n - message_at);
    v[7] = Py_NewRef(Py_False);
    return fill_slots(parsed_type, parsed_offsets, v, PARSED_FIELDS);
}

static PyObject *resolutions[9]; /* parse._RESOLUTION, 10 ** (8 - n) */

/* parse._point: 1 and the point, or 0 when Python's would be None. */
static int
point_of(long long start, const unsigned char *second, unsigned long long ticks,
         unsigned long long *point)
{
    int sec = (second[0] - '0') * 10 + (second[1] - '0');
    if (sec > 59)
        return 0;
    long long seconds = start + sec;
    if (seconds < 0 || seconds > MAX_SECONDS)
        return 0;
    unsigned long long whole = (unsigned long long)seconds * TICKS;
    if (whole > ~0ULL - ticks)
        return 0; /* past 2**64 ticks: Python's big int, not ours */
    *point = whole + ticks;
    return 1;
}

/* parse._fraction of the digits at f (count of them, 0 for none). */
static void
fraction(const unsigned char *f, Py_ssize_t count, unsigned long long *ticks, int *digits)
{
    unsigned long long v = 0;
    Py_ssize_t used = count < 8 ? count : 8;
    for (Py_ssize_t i = 0; i < used; i++)
        v = v * 10 + (f[i] - '0');
    for (Py_ssize_t i = used; i < 8; i++)
        v *= 10;
    *ticks = count ? v : 0;
    *digits = (int)used;
}

/* "[<PRI>]Mmm dd hh:mm:ss HOST TAG" */
static int
parse_syslog(PyObject *raw, const unsigned char *s, Py_ssize_t n, PyObject *now, PyObject *tz,
             PyObject *year, PyObject **out)
{
    Py_ssize_t p = 0;
    int pri = PRI_NONE;
    if (s[0] == '<') {
        /* <(0|[1-9][0-9]{0,2})> */
        p = 1;
        if (p < n && s[p] == '0') {
            pri = 0;
            p++;
        }
        else if (p < n && s[p] >= '1' && s[p] <= '9') {
            pri = s[p++] - '0';
            for (int i = 0; i < 2 && p < n && is_digit(s[p]); i++)
                pri = pri * 10 + (s[p++] - '0');
        }
        else
            return 0;
        if (p >= n || s[p] != '>' || pri > 191)
            return 0;
        p++;
    }
    /* Mmm, one or two spaces, d or dd, a space */
    if (p + 3 > n || !is_letter(s[p]) || !is_letter(s[p + 1]) || !is_letter(s[p + 2]))
        return 0;
    const unsigned char *mon = s + p;
    p += 3;
    if (p >= n || s[p] != ' ')
        return 0;
    p++;
    if (p < n && s[p] == ' ')
        p++;
    if (p >= n || !is_digit(s[p]))
        return 0;
    const unsigned char *day = s + p;
    Py_ssize_t day_size = p + 1 < n && is_digit(s[p + 1]) ? 2 : 1;
    p += day_size;
    if (p >= n || s[p] != ' ')
        return 0;
    p++;
    /* hh:mm:ss and a space */
    if (p + 9 > n || !is_digit(s[p]) || !is_digit(s[p + 1]) || s[p + 2] != ':'
        || !is_digit(s[p + 3]) || !is_digit(s[p + 4]) || s[p + 5] != ':'
        || !is_digit(s[p + 6]) || !is_digit(s[p + 7]) || s[p + 8] != ' ')
        return 0;
    const unsigned char *hm = s + p;
    const unsigned char *sec = s + p + 6;
    p += 9;
    /* HOST: 1 to 255 of parse._HOST_CHARS, then a space, not ending in ":" */
    Py_ssize_t host_at = p;
    while (p < n && plain_host_char(s[p]))
        p++;
    Py_ssize_t host_size = p - host_at;
    if (host_size < 1 || host_size > 255 || p >= n || s[p] != ' ' || s[p - 1] == ':')
        return 0;
    p++;
    Tag tag;
    if (!match_tag(s, n, p, &tag) || may_be_sd(s, n, tag.end))
        return 0;
    /* the minute, as parse._syslog_minute gives it */
    long long now_second = 0, year_value = 0;
    if (year == Py_None) {
        if (!now_seconds(now, &now_second))
            return 0;
    }
    else {
        int overflow = 0;
        year_value = PyLong_AsLongLongAndOverflow(year, &overflow);
        if (overflow || (year_value == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
    }
    unsigned char key[64];
    Py_ssize_t key_size = 0;
    key_add(key, &key_size, mon, 3);
    key_add(key, &key_size, day, day_size);
    key_add(key, &key_size, hm, 5);
    key[key_size++] = year == Py_None;
    key_add(key, &key_size, year == Py_None ? &now_second : &year_value, sizeof(long long));
    long long start;
    int found = MEMO_CALL(&memos[MEMO_SYSLOG], syslog_minute_f, tz, key, key_size, &start,
                          text(mon, 3), text(day, day_size), text(hm, 2), text(hm + 3, 2),
                          Py_NewRef(year), year == Py_None ? PyLong_FromLongLong(now_second)
                                                           : PyLong_FromLong(0));
    if (found <= 0)
        return found;
    unsigned long long point;
    if (!point_of(start, sec, 0, &point))
        return 0;
    *out = make_parsed(raw, point, ticks_per_second, pri, s, host_at, host_size, &tag, tag.end);
    return *out == NULL ? -1 : 1;
}

/* parse._host_and_tag: "[HOST SP] [TAG] msg" from p. */
static int
host_and_tag(PyObject *raw, const unsigned char *s, Py_ssize_t n, Py_ssize_t p,
             unsigned long long point, PyObject *resolution, int pri, PyObject **out)
{
    Py_ssize_t host_at = -1, host_size = 0;
    Py_ssize_t q = p;
    while (q < n && plain_host_char(s[q]))
        q++;
    Py_ssize_t run = q - p;
    Tag tag;
    if (run >= 1 && run <= 255 && (q == n || s[q] == ' ')) {
        if (!(s[q - 1] == ':' && match_tag(s, n, p, &tag))) {
            host_at = p;
            host_size = run;
            p = q == n ? q : q + 1;
        }
    }
    int tagged = match_tag(s, n, p, &tag);
    if (may_be_sd(s, n, tagged ? tag.end : p))
        return 0;
    if (!tagged && p < n)
        return 0; /* a word without a colon: maybe parse._WORD_TAG */
    *out = make_parsed(raw, point, resolution, pri, s, host_at, host_size,
                       tagged ? &tag : NULL, tagged ? tag.end : p);
    return *out == NULL ? -1 : 1;
}

/* parse._iso at 0 (no PRI): "yyyy-mm-dd[T ]hh:mm:ss[.,f][offset]" */
static int
parse_iso(PyObject *raw, const unsigned char *s, Py_ssize_t n, PyObject *tz, PyObject **out)
{
    static const char shape[] = "dddd-dd-dd?dd:dd:dd";
    if (n < 19)
        return 0;
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? !is_digit(s[i]) : shape[i] != '?' && s[i] != shape[i])
            return 0;
    }
    if (s[10] != 'T' && s[10] != ' ')
        return 0;
    Py_ssize_t p = 19;
    const unsigned char *frac = NULL;
    Py_ssize_t frac_size = 0;
    if (p + 1 < n && (s[p] == '.' || s[p] == ',') && is_digit(s[p + 1])) {
        Py_ssize_t q = p + 1;
        while (q < n && is_digit(s[q]))
            q++;
        frac = s + p + 1;
        frac_size = q - (p + 1);
        if (frac_size > 12)
            return 0;
        p = q;
    }
    const unsigned char *offset = NULL;
    Py_ssize_t offset_size = 0;
    if (p < n && s[p] == 'Z') {
        offset = s + p;
        offset_size = 1;
    }
    else if (p < n && (s[p] == '+' || s[p] == '-')) {
        /* [+-][0-9]{2}:?[0-9]{2} */
        if (p + 5 <= n && is_digit(s[p + 1]) && is_digit(s[p + 2]) && s[p + 3] == ':'
            && p + 6 <= n && is_digit(s[p + 4]) && is_digit(s[p + 5]))
            offset_size = 6;
        else if (p + 5 <= n && is_digit(s[p + 1]) && is_digit(s[p + 2]) && is_digit(s[p + 3])
                 && is_digit(s[p + 4]))
            offset_size = 5;
        else
            return 0;
        offset = s + p;
    }
    p += offset_size;
    if (p < n) {
        if (s[p] != ' ')
            return 0;
        p++;
    }
    /* a time with a space and no offset, then what formats.py may read as
       a level, a pid or a thread (or more spaces): Python decides */
    if (s[10] == ' ' && offset == NULL && p < n
        && (s[p] == ' ' || s[p] == '[' || is_digit(s[p]) || (s[p] >= 'A' && s[p] <= 'Z')))
        return 0;
    unsigned char key[64];
    Py_ssize_t key_size = 0;
    key_add(key, &key_size, s, 16); /* yyyy-mm-dd?hh:mm */
    key_add(key, &key_size, offset ? offset : (const unsigned char *)"", offset_size);
    key[key_size++] = offset != NULL;
    long long start;
    int found = MEMO_CALL(&memos[MEMO_ISO], iso_minute_f, tz, key, key_size, &start,
                          text(s, 4), text(s + 5, 2), text(s + 8, 2), text(s + 11, 2),
                          text(s + 14, 2),
                          offset ? text(offset, offset_size) : Py_NewRef(Py_None));
    if (found <= 0)
        return found;
    unsigned long long ticks, point;
    int digits;
    fraction(frac, frac_size, &ticks, &digits);
    if (!point_of(start, s + 17, ticks, &point))
        return 0;
    PyObject *resolution = resolutions[digits];
    if (s[10] == 'T')
        return host_and_tag(raw, s, n, p, point, resolution, PRI_NONE, out);
    *out = make_parsed(raw, point, resolution, PRI_NONE, s, -1, 0, NULL, p);
    return *out == NULL ? -1 : 1;
}

/* parse._hdfs: "yyMMdd HHmmss" */
static int
parse_hdfs(PyObject *raw, const unsigned char *s, Py_ssize_t n, PyObject *tz, PyObject **out)
{
    if (n < 13)
        return 0;
    for (int i = 0; i < 13; i++) {
        if (i == 6 ? s[i] != ' ' : !is_digit(s[i]))
            return 0;
    }
    Py_ssize_t p = 13;
    if (p < n) {
        if (s[p] != ' ')
            return 0;
        p++;
    }
    unsigned char key[64];
    Py_ssize_t key_size = 0;
    unsigned char year[4] = {'2', '0', s[0], s[1]};
    key_add(key, &key_size, year, 4);
    key_add(key, &key_size, s + 2, 4);
    key_add(key, &key_size, s + 7, 4);
    key[key_size++] = 0; /* no offset */
    long long start;
    int found = MEMO_CALL(&memos[MEMO_ISO], iso_minute_f, tz, key, key_size, &start,
                          text(year, 4), text(s + 2, 2), text(s + 4, 2), text(s + 7, 2),
                          text(s + 9, 2), Py_NewRef(Py_None));
    if (found <= 0)
        return found;
    unsigned long long point;
    if (!point_of(start, s + 11, 0, &point))
        return 0;
    *out = make_parsed(raw, point, ticks_per_second, PRI_NONE, s, -1, 0, NULL, p);
    return *out == NULL ? -1 : 1;
}

/* parse._apache: "[Www Mmm dd hh:mm:ss[.f] yyyy]" */
static int
parse_apache(PyObject *raw, const unsigned char *s, Py_ssize_t n, PyObject *tz,
             PyObject **out)
{
    /* \[([A-Z][a-z]{2}) ([A-Za-z]{3}) ([ 0-9]?[0-9]) */
    if (n < 26 || !(s[1] >= 'A' && s[1] <= 'Z') || !(s[2] >= 'a' && s[2] <= 'z')
        || !(s[3] >= 'a' && s[3] <= 'z') || s[4] != ' ' || !is_letter(s[5])
        || !is_letter(s[6]) || !is_letter(s[7]) || s[8] != ' ')
        return 0;
    Py_ssize_t p = 9;
    Py_ssize_t day_at = p, day_size;
    if ((s[p] == ' ' || is_digit(s[p])) && is_digit(s[p + 1]))
        day_size = 2;
    else if (is_digit(s[p]))
        day_size = 1;
    else
        return 0;
    p += day_size;
    /* " hh:mm:ss" */
    if (p + 9 > n || s[p] != ' ' || !is_digit(s[p + 1]) || !is_digit(s[p + 2])
        || s[p + 3] != ':' || !is_digit(s[p + 4]) || !is_digit(s[p + 5]) || s[p + 6] != ':'
        || !is_digit(s[p + 7]) || !is_digit(s[p + 8]))
        return 0;
    const unsigned char *hms = s + p + 1;
    p += 9;
    const unsigned char *frac = NULL;
    Py_ssize_t frac_size = 0;
    if (p + 1 < n && s[p] == '.' && is_digit(s[p + 1])) {
        Py_ssize_t q = p + 1;
        while (q < n && is_digit(s[q]))
            q++;
        frac = s + p + 1;
        frac_size = q - (p + 1);
        if (frac_size > 12)
            return 0;
        p = q;
    }
    /* " yyyy]" and a space or the end */
    if (p + 6 > n || s[p] != ' ' || !is_digit(s[p + 1]) || !is_digit(s[p + 2])
        || !is_digit(s[p + 3]) || !is_digit(s[p + 4]) || s[p + 5] != ']')
        return 0;
    const unsigned char *year = s + p + 1;
    p += 6;
    if (p < n) {
        if (s[p] != ' ')
            return 0;
        p++;
    }
    unsigned char key[64];
    Py_ssize_t key_size = 0;
    key_add(key, &key_size, s + 1, 3);
    key_add(key, &key_size, s + 5, 3);
    key_add(key, &key_size, s + day_at, day_size);
    key_add(key, &key_size, hms, 5);
    key_add(key, &key_size, year, 4);
    long long start;
    int found = MEMO_CALL(&memos[MEMO_APACHE], apache_minute_f, tz, key, key_size, &start,
                          text(s + 1, 3), text(s + 5, 3), text(s + day_at, day_size),
                          text(hms, 2), text(hms + 3, 2), text(year, 4));
    if (found <= 0)
        return found;
    unsigned long long ticks, point;
    int digits;
    fraction(frac, frac_size, &ticks, &digits);
    if (!point_of(start, hms + 6, ticks, &point))
        return 0;
    *out = make_parsed(raw, point, resolutions[digits], PRI_NONE, s, -1, 0, NULL, p);
    return *out == NULL ? -1 : 1;
}

/* 1: *out is the Parsed; 0: not a shape covered here; -1: an error. */
static int
parse_fast(PyObject *raw, PyObject *now, PyObject *tz, PyObject *year, PyObject **out)
{
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    if (n == 0 || !(year == Py_None || PyLong_CheckExact(year)))
        return 0;
    int done;
    if (is_letter(s[0]) || s[0] == '<')
        done = parse_syslog(raw, s, n, now, tz, year, out);
    else if (is_digit(s[0]))
        done = n > 4 && s[4] == '-' ? parse_iso(raw, s, n, tz, out)
                                    : parse_hdfs(raw, s, n, tz, out);
    else if (s[0] == '[')
        done = parse_apache(raw, s, n, tz, out);
    else
        return 0;
    if (done < 0) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return -1;
        PyErr_Clear();
        return 0; /* Python's parse_line catches it and decides */
    }
    return done;
}

static PyObject *
sp_parse_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *now = NULL, *tz = NULL, *year = Py_None;
    int ok = nargs == 1 && kwnames != NULL && parsed_type != NULL
             && PyBytes_CheckExact(args[0]);
    if (ok) {
        for (Py_ssize_t j = 0; ok && j < PyTuple_GET_SIZE(kwnames); j++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, j);
            PyObject *value = args[nargs + j];
            if (PyUnicode_CompareWithASCIIString(key, "now") == 0 && now == NULL)
                now = value;
            else if (PyUnicode_CompareWithASCIIString(key, "tz") == 0 && tz == NULL)
                tz = value;
            else if (PyUnicode_CompareWithASCIIString(key, "year") == 0)
                year = value;
            else if (PyUnicode_CompareWithASCIIString(key, "hint") == 0 && value == Py_None)
                ; /* no hint: the guess, as without it */
            else
                ok = 0;
        }
        ok = ok && now != NULL && tz != NULL;
    }
    if (ok) {
        PyObject *out = NULL;
        int done = parse_fast(args[0], now, tz, year, &out);
        if (done < 0)
            return NULL;
        if (done)
            return out;
    }
    return PyObject_Vectorcall(pure_parse_line, args, nargs, kwnames);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

static PyObject *
sp_configure_tokenize(PyObject *self, PyObject *args)
{
    PyObject *pure;
    if (!PyArg_ParseTuple(args, "O:configure_tokenize", &pure))
        return NULL;
    Py_XSETREF(pure_split, Py_NewRef(pure));
    Py_RETURN_NONE;
}

static PyObject *
sp_configure_event(PyObject *self, PyObject *args)
{
    PyObject *type, *corrupt, *enc, *enc_fields, *dec, *dec_tokens, *check;
    if (!PyArg_ParseTuple(args, "O!OOOOOO:configure_event", &PyType_Type, &type, &corrupt,
                          &enc, &enc_fields, &dec, &dec_tokens, &check))
        return NULL;
    if (slot_offsets((PyTypeObject *)type, event_names, event_offsets, EVENT_FIELDS) < 0)
        return NULL;
    Py_XSETREF(event_type, (PyTypeObject *)Py_NewRef(type));
    Py_XSETREF(corrupt_event, Py_NewRef(corrupt));
    Py_XSETREF(pure_encode, Py_NewRef(enc));
    Py_XSETREF(pure_encode_fields, Py_NewRef(enc_fields));
    Py_XSETREF(pure_decode, Py_NewRef(dec));
    Py_XSETREF(pure_decode_with_tokens, Py_NewRef(dec_tokens));
    Py_XSETREF(pure_check_event, Py_NewRef(check));
    Py_RETURN_NONE;
}

static PyObject *
sp_configure_parse(PyObject *self, PyObject *args)
{
    PyObject *type, *pure, *syslog, *iso, *apache;
    if (!PyArg_ParseTuple(args, "O!OOOO:configure_parse", &PyType_Type, &type, &pure, &syslog,
                          &iso, &apache))
        return NULL;
    if (slot_offsets((PyTypeObject *)type, parsed_names, parsed_offsets, PARSED_FIELDS) < 0)
        return NULL;
    Py_XSETREF(parsed_type, (PyTypeObject *)Py_NewRef(type));
    Py_XSETREF(pure_parse_line, Py_NewRef(pure));
    Py_XSETREF(syslog_minute_f, Py_NewRef(syslog));
    Py_XSETREF(iso_minute_f, Py_NewRef(iso));
    Py_XSETREF(apache_minute_f, Py_NewRef(apache));
    for (int i = 0; i < MEMOS; i++)
        Py_CLEAR(memos[i].tz);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"crc32", sp_crc32, METH_O, "crc32 of a bytes-like object (as zlib.crc32(data))."},
    {"split", sp_split, METH_O, "tokenize.split, compiled."},
    {"encode", sp_encode, METH_O, "event.encode, compiled."},
    {"encode_fields", (PyCFunction)(void (*)(void))sp_encode_fields,
     METH_FASTCALL | METH_KEYWORDS, "event.encode_fields, compiled."},
    {"decode", sp_decode, METH_O, "event.decode, compiled."},
    {"decode_with_tokens", sp_decode_with_tokens, METH_O, "event.decode_with_tokens, compiled."},
    {"check_event", sp_check_event, METH_O, "event.check_event, compiled."},
    {"parse_line", (PyCFunction)(void (*)(void))sp_parse_line, METH_FASTCALL | METH_KEYWORDS,
     "parse.parse_line, compiled fast path."},
    {"configure_tokenize", sp_configure_tokenize, METH_VARARGS,
     "configure_tokenize(pure_split)"},
    {"configure_event", sp_configure_event, METH_VARARGS,
     "configure_event(Event, CorruptEvent, encode, encode_fields, decode, decode_with_tokens,"
     " check_event)"},
    {"configure_parse", sp_configure_parse, METH_VARARGS,
     "configure_parse(Parsed, parse_line, _syslog_minute, _iso_minute, _apache_minute)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "logship.core._speedups",
    "The compiled hot path of logship's codec (see docs/speedups.md).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    crc_init();
    tables_init();
    empty_bytes = PyBytes_FromStringAndSize("", 0);
    ticks_per_second = PyLong_FromUnsignedLongLong(TICKS);
    if (empty_bytes == NULL || ticks_per_second == NULL)
        return NULL;
    for (int digits = 0; digits <= 8; digits++) {
        unsigned long long r = 1;
        for (int i = digits; i < 8; i++)
            r *= 10;
        resolutions[digits] = PyLong_FromUnsignedLongLong(r);
        if (resolutions[digits] == NULL)
            return NULL;
    }
    return PyModule_Create(&module);
}
