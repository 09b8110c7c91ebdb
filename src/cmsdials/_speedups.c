/*
 * cmsdials._speedups: one th1/th2 page of JSON -> columns, in one pass over the bytes.
 *
 * Optional: the package works without it (cmsdials._decode then takes pysimdjson's path,
 * which is also where every page this scanner declines goes).  The scanner is a fast
 * path, not a second JSON implementation: it accepts the pages dials-local and DIALS
 * send (any key order, any whitespace, unknown keys) and answers None for anything else
 * - escapes or non-ASCII bytes in skipped strings, null where a number belongs, numbers
 * beyond float64, data that does not have its binning's shape, a missing field, a
 * duplicate key, nesting deeper than a few levels - so that the reference path decides
 * (and words the error) exactly as it would without this module.
 *
 * Numbers are converted exactly as Python's float() does: the common short decimals by
 * Clinger's fast path (an integer mantissa below 2**53 times or over an exact power of
 * ten up to 1e22 is correctly rounded in IEEE double arithmetic), all others by
 * PyOS_string_to_double (David Gay's correctly rounded strtod).
 *
 * Every read is bounds-checked against the end of the buffer: the input is whatever a
 * server or a proxy sent.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <string.h>

/* Return codes of the scanning functions. */
#define OK 0
#define DECLINE (-1) /* not a page this scanner takes: no Python error set */
#define FAILED (-2)  /* a Python exception is set (memory) */

#define MAX_FIELDS 32
#define MAX_SKIP_DEPTH 16

/* Clinger's fast path needs IEEE double arithmetic without extended intermediates. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define EXACT_DOUBLE_ARITHMETIC 1
#else
#define EXACT_DOUBLE_ARITHMETIC 0
#endif

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    const char *p;
    const char *end;
} Cursor;

/* A column of fixed-size items growing in a bytearray (handed to numpy as is). */
typedef struct {
    PyObject *array; /* bytearray */
    Py_ssize_t used;
    Py_ssize_t capacity;
} Growing;

enum Kind { KIND_INT, KIND_FLOAT, KIND_STRING, KIND_DATA };

typedef struct {
    const char *name;
    Py_ssize_t length;
    enum Kind kind;
    int column; /* index among the fields of its kind */
} Field;

typedef struct {
    /* a string column: its values, and the last one read (its raw bytes, its object) */
    PyObject *values; /* list */
    PyObject *shared; /* dict: one object per distinct value */
    const char *last_raw;
    Py_ssize_t last_length;
    PyObject *last; /* borrowed from `shared` */
} StringColumn;

typedef struct {
    Cursor cursor;
    int dims;
    Field fields[MAX_FIELDS];
    int n_fields, n_ints, n_floats, n_strings;
    int x_bin, y_bin; /* indexes among the ints */
    Growing ints[MAX_FIELDS];
    Growing floats[MAX_FIELDS];
    StringColumn strings[MAX_FIELDS];
    Growing values;
    Py_ssize_t rows;
    char *number_copy; /* NUL-terminated copy of a number for the slow conversion */
    Py_ssize_t number_copy_size;
} Scanner;

/* ------------------------------------------------------------------------------------ */

static int
growing_init(Growing *g, Py_ssize_t capacity)
{
    g->array = PyByteArray_FromStringAndSize(NULL, capacity);
    g->used = 0;
    g->capacity = capacity;
    return g->array == NULL ? FAILED : OK;
}

static int
growing_reserve(Growing *g, Py_ssize_t more)
{
    Py_ssize_t need, capacity;
    if (more <= g->capacity - g->used) {
        return OK;
    }
    if (more > PY_SSIZE_T_MAX / 2 - g->used) {
        PyErr_NoMemory();
        return FAILED;
    }
    need = g->used + more;
    capacity = g->capacity < 64 ? 64 : g->capacity;
    while (capacity < need) {
        capacity *= 2;
    }
    if (PyByteArray_Resize(g->array, capacity) < 0) {
        return FAILED;
    }
    g->capacity = capacity;
    return OK;
}

static inline int
growing_append(Growing *g, const void *item, Py_ssize_t size)
{
    if (size > g->capacity - g->used && growing_reserve(g, size) != OK) {
        return FAILED;
    }
    memcpy(PyByteArray_AS_STRING(g->array) + g->used, item, (size_t)size);
    g->used += size;
    return OK;
}

/* The bytearray cut to what was written (a new reference), or NULL. */
static PyObject *
growing_finish(Growing *g)
{
    if (PyByteArray_Resize(g->array, g->used) < 0) {
        return NULL;
    }
    Py_INCREF(g->array);
    return g->array;
}

/* ------------------------------------------------------------------------------------ */

static inline void
skip_whitespace(Cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) {
        c->p++;
    }
}

/* Expect `ch` after optional whitespace; consume it. */
static inline int
expect(Cursor *c, char ch)
{
    skip_whitespace(c);
    if (c->p >= c->end || *c->p != ch) {
        return DECLINE;
    }
    c->p++;
    return OK;
}

/* Right after an opening bracket: 1 (and `close` consumed) if the array or object is
   empty, else 0. */
static inline int
empty(Cursor *c, char close)
{
    skip_whitespace(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

/* After an item of an array or object: MORE if a ',' follows, OK if `close` does (either
   consumed), DECLINE otherwise.  Loops read `do { item } while ((status = ...) == MORE)`. */
#define MORE 1
static inline int
next_item(Cursor *c, char close)
{
    skip_whitespace(c);
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        return MORE;
    }
    return expect(c, close);
}

/* A string without escapes: its bytes between the quotes.  `ascii` tells whether all of
   them are below 0x80.  Control characters are invalid JSON: declined. */
static int
read_string(Cursor *c, const char **start, Py_ssize_t *length, int *ascii)
{
    const char *p;
    unsigned char byte;
    int high = 0;
    if (expect(c, '"') != OK) {
        return DECLINE;
    }
    p = c->p;
    while (p < c->end) {
        byte = (unsigned char)*p;
        if (byte == '"') {
            *start = c->p;
            *length = p - c->p;
            *ascii = !high;
            c->p = p + 1;
            return OK;
        }
        if (byte == '\\' || byte < 0x20) {
            return DECLINE;
        }
        high |= byte & 0x80;
        p++;
    }
    return DECLINE; /* unterminated */
}

static inline int
is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

typedef struct {
    int integer;        /* no fraction, no exponent, and fits in int64 */
    int64_t as_integer; /* when `integer` */
    double as_double;
} Number;

/* A JSON number (strict grammar), as int64 when it is an integer that fits and as the
   double Python's float() would give.  Numbers beyond float64 (1e999) are declined: the
   reference path decides what they mean. */
static int
read_number(Scanner *s, Cursor *c, Number *out)
{
    const char *start, *p = c->p, *end = c->end;
    int negative = 0, fraction = 0, significant = 0, exact = 1;
    uint64_t mantissa = 0;
    long exponent10 = 0, exponent = 0;
    int exponent_negative = 0;
    double value;

    skip_whitespace(c);
    p = start = c->p;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end) {
        return DECLINE;
    }
    if (*p == '0') {
        p++;
    }
    else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) {
            if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                significant++;
            }
            else {
                exact = 0; /* more digits than a uint64 holds: the slow path rounds */
                if (exponent10 < 1000000) {
                    exponent10++; /* capped: only the fast path's range test reads it */
                }
            }
            p++;
        }
    }
    else {
        return DECLINE;
    }
    if (p < end && *p == '.') {
        fraction = 1;
        p++;
        if (p >= end || !is_digit(*p)) {
            return DECLINE;
        }
        while (p < end && is_digit(*p)) {
            if (mantissa == 0 && *p == '0') {
                if (exponent10 > -1000000) {
                    exponent10--; /* leading zeros of the fraction are not significant */
                }
            }
            else if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                significant++;
                exponent10--;
            }
            else if (*p != '0') {
                exact = 0;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        fraction = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            exponent_negative = *p == '-';
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            return DECLINE;
        }
        while (p < end && is_digit(*p)) {
            if (exponent < 100000) {
                exponent = exponent * 10 + (*p - '0');
            }
            p++;
        }
        exponent10 += exponent_negative ? -exponent : exponent;
    }
    c->p = p;
    if (!fraction && mantissa == 0) {
        negative = 0; /* "-0" is the integer 0 (as json.loads reads it), not -0.0 */
    }

    out->integer = 0;
    if (!fraction && exact) {
        /* 19 significant digits or fewer: fits in uint64; int64 needs a check. */
        if (mantissa <= (uint64_t)INT64_MAX) {
            out->integer = 1;
            out->as_integer = negative ? -(int64_t)mantissa : (int64_t)mantissa;
        }
        else if (negative && mantissa == (uint64_t)INT64_MAX + 1) {
            out->integer = 1;
            out->as_integer = INT64_MIN;
        }
    }

    if (EXACT_DOUBLE_ARITHMETIC && exact && mantissa <= ((uint64_t)1 << 53) &&
        exponent10 >= -22 && exponent10 <= 22) {
        value = (double)mantissa;
        value = exponent10 < 0 ? value / POW10[-exponent10] : value * POW10[exponent10];
    }
    else if (mantissa == 0 && exact) {
        value = 0.0;
    }
    else {
        Py_ssize_t length = p - start;
        char *copy;
        if (length + 1 > s->number_copy_size) {
            copy = PyMem_Realloc(s->number_copy, (size_t)length + 1);
            if (copy == NULL) {
                PyErr_NoMemory();
                return FAILED;
            }
            s->number_copy = copy;
            s->number_copy_size = length + 1;
        }
        memcpy(s->number_copy, start, (size_t)length);
        s->number_copy[length] = '\0';
        value = PyOS_string_to_double(s->number_copy, NULL, NULL);
        if (value == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return DECLINE;
        }
        if (Py_IS_INFINITY(value)) {
            return DECLINE;
        }
        out->as_double = value; /* the sign is part of the copy */
        return OK;
    }
    out->as_double = negative ? -value : value;
    return OK;
}

/* Skip any JSON value (of a key this scanner does not read). */
static int
skip_value(Scanner *s, Cursor *c, int depth)
{
    const char *start;
    Py_ssize_t length;
    int ascii, status;
    Number number;

    if (depth > MAX_SKIP_DEPTH) {
        return DECLINE;
    }
    skip_whitespace(c);
    if (c->p >= c->end) {
        return DECLINE;
    }
    switch (*c->p) {
    case '"':
        status = read_string(c, &start, &length, &ascii);
        /* Non-ASCII bytes would need UTF-8 validation to agree with the reference. */
        return status != OK ? status : (ascii ? OK : DECLINE);
    case '{':
        c->p++;
        if (empty(c, '}')) {
            return OK;
        }
        do {
            if ((status = read_string(c, &start, &length, &ascii)) != OK) {
                return status;
            }
            if (!ascii || expect(c, ':') != OK) {
                return DECLINE;
            }
            if ((status = skip_value(s, c, depth + 1)) != OK) {
                return status;
            }
        } while ((status = next_item(c, '}')) == MORE);
        return status;
    case '[':
        c->p++;
        if (empty(c, ']')) {
            return OK;
        }
        do {
            if ((status = skip_value(s, c, depth + 1)) != OK) {
                return status;
            }
        } while ((status = next_item(c, ']')) == MORE);
        return status;
    case 't':
        if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
            c->p += 4;
            return OK;
        }
        return DECLINE;
    case 'f':
        if (c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
            c->p += 5;
            return OK;
        }
        return DECLINE;
    case 'n':
        if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
            c->p += 4;
            return OK;
        }
        return DECLINE;
    default:
        return read_number(s, c, &number);
    }
}

/* `null` (-> None) or a string without escapes (-> str); a new reference in *out. */
static int
read_link(Cursor *c, PyObject **out)
{
    const char *start;
    Py_ssize_t length;
    int ascii, status;
    skip_whitespace(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        Py_INCREF(Py_None);
        *out = Py_None;
        return OK;
    }
    if ((status = read_string(c, &start, &length, &ascii)) != OK) {
        return status;
    }
    *out = PyUnicode_DecodeUTF8(start, length, "strict");
    if (*out == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    return OK;
}

/* An array of numbers, appended to the values as float64; *count: how many. */
static int
read_numbers(Scanner *s, Cursor *c, Py_ssize_t *count)
{
    Number number;
    int status;
    Py_ssize_t read = 0; /* a local, not *count: kept in a register across the copies */
    *count = 0;
    if (expect(c, '[') != OK) {
        return DECLINE;
    }
    if (empty(c, ']')) {
        return OK;
    }
    do {
        if ((status = read_number(s, c, &number)) != OK) {
            return status;
        }
        if (growing_append(&s->values, &number.as_double, sizeof(double)) != OK) {
            return FAILED;
        }
        read++;
    } while ((status = next_item(c, ']')) == MORE);
    *count = read;
    return status;
}

/* The bins of one row, appended to the values: an array of numbers (dims 1) or of arrays
   of numbers (dims 2).  *lines is the length of the outer array, *width the length of
   every inner one (-1 when there is none). */
static int
read_bins(Scanner *s, Cursor *c, Py_ssize_t *lines, Py_ssize_t *width)
{
    Py_ssize_t count;
    int status;
    *width = -1;
    if (s->dims == 1) {
        return read_numbers(s, c, lines);
    }
    *lines = 0;
    if (expect(c, '[') != OK) {
        return DECLINE;
    }
    if (empty(c, ']')) {
        return OK;
    }
    do {
        if ((status = read_numbers(s, c, &count)) != OK) {
            return status;
        }
        if (*lines == 0) {
            *width = count;
        }
        else if (count != *width) {
            return DECLINE; /* ragged: the reference path says which row */
        }
        (*lines)++;
    } while ((status = next_item(c, ']')) == MORE);
    return status;
}

static int
find_field(Scanner *s, const char *name, Py_ssize_t length, int hint)
{
    int i;
    if (hint < s->n_fields && s->fields[hint].length == length &&
        memcmp(s->fields[hint].name, name, (size_t)length) == 0) {
        return hint;
    }
    for (i = 0; i < s->n_fields; i++) {
        if (s->fields[i].length == length && memcmp(s->fields[i].name, name, (size_t)length) == 0) {
            return i;
        }
    }
    return -1;
}

static int
string_value(StringColumn *column, const char *raw, Py_ssize_t length, PyObject **out)
{
    PyObject *decoded, *shared;
    if (column->last != NULL && column->last_length == length &&
        memcmp(column->last_raw, raw, (size_t)length) == 0) {
        *out = column->last;
        return OK;
    }
    decoded = PyUnicode_DecodeUTF8(raw, length, "strict");
    if (decoded == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    shared = PyDict_SetDefault(column->shared, decoded, decoded); /* borrowed */
    Py_DECREF(decoded);
    if (shared == NULL) {
        return FAILED;
    }
    column->last = shared;
    column->last_raw = raw;
    column->last_length = length;
    *out = shared;
    return OK;
}

static int
read_row(Scanner *s, Cursor *c)
{
    int64_t ints[MAX_FIELDS];
    double floats[MAX_FIELDS];
    PyObject *strings[MAX_FIELDS];
    uint64_t seen = 0, all = (s->n_fields >= 64) ? ~(uint64_t)0 : (((uint64_t)1 << s->n_fields) - 1);
    Py_ssize_t lines = 0, width = -1, x_bin, y_bin;
    const char *key;
    Py_ssize_t key_length;
    int ascii, status, index, hint = 0, i;
    Number number;
    Field *field;

    if (expect(c, '{') != OK) {
        return DECLINE;
    }
    do {
        if ((status = read_string(c, &key, &key_length, &ascii)) != OK) {
            return status;
        }
        if (expect(c, ':') != OK) {
            return DECLINE;
        }
        index = find_field(s, key, key_length, hint);
        if (index < 0) {
            if (!ascii) {
                return DECLINE;
            }
            if ((status = skip_value(s, c, 1)) != OK) {
                return status;
            }
        }
        else {
            if (seen & ((uint64_t)1 << index)) {
                return DECLINE; /* a duplicate key: the reference path decides */
            }
            seen |= (uint64_t)1 << index;
            hint = index + 1;
            field = &s->fields[index];
            switch (field->kind) {
            case KIND_INT:
                if ((status = read_number(s, c, &number)) != OK) {
                    return status;
                }
                if (!number.integer) {
                    return DECLINE; /* e.g. 100.0: the reference path converts it */
                }
                ints[field->column] = number.as_integer;
                break;
            case KIND_FLOAT:
                if ((status = read_number(s, c, &number)) != OK) {
                    return status;
                }
                floats[field->column] = number.as_double;
                break;
            case KIND_STRING:
                if ((status = read_string(c, &key, &key_length, &ascii)) != OK) {
                    return status;
                }
                status = string_value(&s->strings[field->column], key, key_length,
                                      &strings[field->column]);
                if (status != OK) {
                    return status;
                }
                break;
            case KIND_DATA:
                if ((status = read_bins(s, c, &lines, &width)) != OK) {
                    return status;
                }
                break;
            }
        }
    } while ((status = next_item(c, '}')) == MORE);
    if (status != OK) {
        return status;
    }
    if (seen != all) {
        return DECLINE; /* a missing field */
    }
    /* The bins must have the binning's shape (the reference path words the error). */
    x_bin = (Py_ssize_t)ints[s->x_bin];
    if (ints[s->x_bin] < 0) {
        return DECLINE;
    }
    if (s->dims == 1) {
        if (lines != x_bin) {
            return DECLINE;
        }
    }
    else {
        y_bin = (Py_ssize_t)ints[s->y_bin];
        if (ints[s->y_bin] < 0 || lines != y_bin || (lines > 0 && width != x_bin)) {
            return DECLINE;
        }
    }
    for (i = 0; i < s->n_ints; i++) {
        if (growing_append(&s->ints[i], &ints[i], sizeof(int64_t)) != OK) {
            return FAILED;
        }
    }
    for (i = 0; i < s->n_floats; i++) {
        if (growing_append(&s->floats[i], &floats[i], sizeof(double)) != OK) {
            return FAILED;
        }
    }
    for (i = 0; i < s->n_strings; i++) {
        if (PyList_Append(s->strings[i].values, strings[i]) < 0) {
            return FAILED;
        }
    }
    s->rows++;
    return OK;
}

static int
read_rows(Scanner *s, Cursor *c)
{
    int status;
    if (expect(c, '[') != OK) {
        return DECLINE;
    }
    if (empty(c, ']')) {
        return OK;
    }
    do {
        if ((status = read_row(s, c)) != OK) {
            return status;
        }
    } while ((status = next_item(c, ']')) == MORE);
    return status;
}

/* The whole page: {"next": ..., "previous": ..., "results": [...]} in any key order. */
static int
read_page(Scanner *s, PyObject **next, PyObject **previous)
{
    Cursor *c = &s->cursor;
    const char *key;
    Py_ssize_t length;
    int ascii, status, have_rows = 0;
    PyObject **link;

    if (expect(c, '{') != OK) {
        return DECLINE;
    }
    do {
        if ((status = read_string(c, &key, &length, &ascii)) != OK) {
            return status;
        }
        if (expect(c, ':') != OK) {
            return DECLINE;
        }
        link = NULL;
        if (length == 4 && memcmp(key, "next", 4) == 0) {
            link = next;
        }
        else if (length == 8 && memcmp(key, "previous", 8) == 0) {
            link = previous;
        }
        if (link != NULL) {
            if (*link != NULL) {
                return DECLINE;
            }
            if ((status = read_link(c, link)) != OK) {
                return status;
            }
        }
        else if (length == 7 && memcmp(key, "results", 7) == 0) {
            if (have_rows) {
                return DECLINE;
            }
            have_rows = 1;
            if ((status = read_rows(s, c)) != OK) {
                return status;
            }
        }
        else {
            if (!ascii) {
                return DECLINE;
            }
            if ((status = skip_value(s, c, 1)) != OK) {
                return status;
            }
        }
    } while ((status = next_item(c, '}')) == MORE);
    if (status != OK) {
        return status;
    }
    skip_whitespace(c);
    if (c->p != c->end || !have_rows || *next == NULL || *previous == NULL) {
        return DECLINE;
    }
    return OK;
}

/* ------------------------------------------------------------------------------------ */

static int
add_fields(Scanner *s, PyObject *names, enum Kind kind, int *count)
{
    Py_ssize_t i, n, length;
    const char *name;
    PyObject *item;
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "field names must be a tuple of str");
        return FAILED;
    }
    n = PyTuple_GET_SIZE(names);
    for (i = 0; i < n; i++) {
        item = PyTuple_GET_ITEM(names, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "field names must be a tuple of str");
            return FAILED;
        }
        if (s->n_fields >= MAX_FIELDS - 1) {
            PyErr_SetString(PyExc_ValueError, "too many fields");
            return FAILED;
        }
        name = PyUnicode_AsUTF8AndSize(item, &length);
        if (name == NULL) {
            return FAILED;
        }
        s->fields[s->n_fields].name = name;
        s->fields[s->n_fields].length = length;
        s->fields[s->n_fields].kind = kind;
        s->fields[s->n_fields].column = (int)i;
        if (kind == KIND_INT && length == 5 && memcmp(name, "x_bin", 5) == 0) {
            s->x_bin = (int)i;
        }
        if (kind == KIND_INT && length == 5 && memcmp(name, "y_bin", 5) == 0) {
            s->y_bin = (int)i;
        }
        s->n_fields++;
    }
    *count = (int)n;
    return OK;
}

static void
scanner_clear(Scanner *s)
{
    int i;
    for (i = 0; i < MAX_FIELDS; i++) {
        Py_CLEAR(s->ints[i].array);
        Py_CLEAR(s->floats[i].array);
        Py_CLEAR(s->strings[i].values);
        Py_CLEAR(s->strings[i].shared);
    }
    Py_CLEAR(s->values.array);
    PyMem_Free(s->number_copy);
    s->number_copy = NULL;
}

static PyObject *
finish(Growing *columns, int n)
{
    int i;
    PyObject *tuple = PyTuple_New(n), *item;
    if (tuple == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        item = growing_finish(&columns[i]);
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

PyDoc_STRVAR(scan_page_doc,
"scan_page(body, dims, ints, floats, strings, /)\n--\n\n"
"One th1/th2 page -> (next, previous, ints, floats, strings, values), or None.\n\n"
"``ints``/``floats``/``strings``: the row fields of each kind (tuples of names; ``ints``\n"
"holds x_bin, and y_bin when dims is 2); each row also has ``data``.  The result holds\n"
"one bytearray per int (int64) and float (float64) field, one list of str per string\n"
"field, and every row's bins in one float64 bytearray, row after row.  None: the body\n"
"is not a page this scanner takes (see the module's source); decode it another way.");

static PyObject *
scan_page(PyObject *module, PyObject *args)
{
    Py_buffer body;
    int dims, status, i;
    PyObject *int_names, *float_names, *string_names;
    PyObject *next = NULL, *previous = NULL, *result = NULL;
    PyObject *ints = NULL, *floats = NULL, *strings = NULL, *values = NULL;
    Scanner *s;
    Py_ssize_t guess;

    if (!PyArg_ParseTuple(args, "y*iOOO:scan_page", &body, &dims, &int_names, &float_names,
                          &string_names)) {
        return NULL;
    }
    s = PyMem_Calloc(1, sizeof(Scanner));
    if (s == NULL) {
        PyBuffer_Release(&body);
        return PyErr_NoMemory();
    }
    s->dims = dims;
    s->x_bin = s->y_bin = -1;
    s->cursor.p = (const char *)body.buf;
    s->cursor.end = (const char *)body.buf + body.len;
    status = (dims == 1 || dims == 2) ? OK : FAILED;
    if (status != OK) {
        PyErr_SetString(PyExc_ValueError, "dims must be 1 or 2");
    }
    if (status == OK) status = add_fields(s, int_names, KIND_INT, &s->n_ints);
    if (status == OK) status = add_fields(s, float_names, KIND_FLOAT, &s->n_floats);
    if (status == OK) status = add_fields(s, string_names, KIND_STRING, &s->n_strings);
    if (status == OK && (s->x_bin < 0 || (dims == 2 && s->y_bin < 0))) {
        PyErr_SetString(PyExc_ValueError, "ints must name x_bin (and y_bin for dims 2)");
        status = FAILED;
    }
    if (status == OK) {
        s->fields[s->n_fields].name = "data";
        s->fields[s->n_fields].length = 4;
        s->fields[s->n_fields].kind = KIND_DATA;
        s->fields[s->n_fields].column = 0;
        s->n_fields++;
        /* Scalars: a few hundred rows per page.  Bins: typically four bytes of text each
           ("0.0,"), i.e. twice the body's size as float64s.  The space is reserved, not
           touched (untouched pages of a large allocation cost no memory), cut to size at
           the end, and doubled should a page need more. */
        guess = body.len > PY_SSIZE_T_MAX / 4 ? body.len : 2 * body.len + 64;
        for (i = 0; status == OK && i < s->n_ints; i++) {
            status = growing_init(&s->ints[i], 512 * sizeof(int64_t));
        }
        for (i = 0; status == OK && i < s->n_floats; i++) {
            status = growing_init(&s->floats[i], 512 * sizeof(double));
        }
        for (i = 0; status == OK && i < s->n_strings; i++) {
            s->strings[i].values = PyList_New(0);
            s->strings[i].shared = PyDict_New();
            if (s->strings[i].values == NULL || s->strings[i].shared == NULL) {
                status = FAILED;
            }
        }
        if (status == OK) {
            status = growing_init(&s->values, guess - guess % (Py_ssize_t)sizeof(double));
        }
    }
    if (status == OK) {
        status = read_page(s, &next, &previous);
    }
    if (status == OK) {
        ints = finish(s->ints, s->n_ints);
        floats = finish(s->floats, s->n_floats);
        values = growing_finish(&s->values);
        strings = PyTuple_New(s->n_strings);
        if (ints && floats && values && strings) {
            for (i = 0; i < s->n_strings; i++) {
                Py_INCREF(s->strings[i].values);
                PyTuple_SET_ITEM(strings, i, s->strings[i].values);
            }
            result = PyTuple_Pack(6, next, previous, ints, floats, strings, values);
        }
        Py_XDECREF(ints);
        Py_XDECREF(floats);
        Py_XDECREF(strings);
        Py_XDECREF(values);
    }
    else if (status == DECLINE) {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    Py_XDECREF(next);
    Py_XDECREF(previous);
    scanner_clear(s);
    PyMem_Free(s);
    PyBuffer_Release(&body);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_page", scan_page, METH_VARARGS, scan_page_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "cmsdials._speedups",
    "Compiled fast path of cmsdials._decode (optional).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
