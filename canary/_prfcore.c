/* HMAC-SHA256 over a column of strings: the canary.prf PRF, vectorised.
 *
 * Why: tracer keys every identifier of every exported row (four or five
 * HMACs a row) and plans every row's marks from one more. DuckDB's sha256()
 * costs ~1.2 s per million HMACs (four compressions, hex round trips); this
 * does two compressions per short message from precomputed pad midstates,
 * with the x86 SHA extensions where the CPU has them, on all cores, without
 * the GIL. Output is bit-for-bit canary.prf.Key.mac (tests check it).
 *
 * Input is an Arrow string column as its raw buffers (offsets + data), so no
 * Python object is made per row. Pure computation: no I/O.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t st[8], const uint8_t *p, size_t blocks) {
    uint32_t w[64];
    while (blocks--) {
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e; st[5] += f; st[6] += g; st[7] += h;
        p += 64;
    }
}

#ifdef HAVE_X86
/* The SHA-NI block function (Intel's published instruction sequence). */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t st[8], const uint8_t *p, size_t blocks) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&st[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&st[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);            /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);         /* CDGH */
    while (blocks--) {
        __m128i abef = s0, cdgh = s1, m[4], msg;
        for (int i = 0; i < 16; i++) {
            __m128i w;
            if (i < 4) {
                w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), MASK);
            } else {
                /* W[t..t+3] from the four previous vectors (ring m[i % 4]). */
                __m128i x = _mm_sha256msg1_epu32(m[i % 4], m[(i + 1) % 4]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(i + 3) % 4], m[(i + 2) % 4], 4));
                w = _mm_sha256msg2_epu32(x, m[(i + 3) % 4]);
            }
            m[i % 4] = w;
            msg = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K256[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
        p += 64;
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);           /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);            /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);         /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);            /* ABEF */
    _mm_storeu_si128((__m128i *)&st[0], s0);
    _mm_storeu_si128((__m128i *)&st[4], s1);
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 19)) || !(c & (1u << 9))) return 0; /* SSE4.1, SSSE3 */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;
}
#endif

typedef void (*compress_fn)(uint32_t *, const uint8_t *, size_t);
static compress_fn compress = compress_portable;
static const char *engine = "portable";

/* SHA-256 of (64 bytes already absorbed into `mid`) || prefix || msg. */
static void hash_after_block(const uint32_t mid[8], const uint8_t *prefix, size_t plen,
                             const uint8_t *msg, size_t mlen, uint8_t out[32]) {
    uint32_t st[8];
    uint8_t buf[128];
    memcpy(st, mid, sizeof st);
    size_t total = plen + mlen, fill = 0;
    /* Stream prefix then message through 64-byte blocks; whole blocks of
       the message are compressed in place, without a copy. */
    const uint8_t *src[2] = {prefix, msg};
    size_t len[2] = {plen, mlen};
    for (int s = 0; s < 2; s++) {
        const uint8_t *q = src[s];
        size_t left = len[s];
        if (fill) {
            size_t take = 64 - fill < left ? 64 - fill : left;
            memcpy(buf + fill, q, take);
            fill += take; q += take; left -= take;
            if (fill == 64) { compress(st, buf, 1); fill = 0; }
        }
        if (left >= 64) { compress(st, q, left / 64); q += left / 64 * 64; left %= 64; }
        if (left) { memcpy(buf, q, left); fill = left; }
    }
    uint64_t bits = (uint64_t)(64 + total) * 8;
    buf[fill++] = 0x80;
    size_t end = fill <= 56 ? 64 : 128;
    memset(buf + fill, 0, end - fill);
    for (int i = 0; i < 8; i++) buf[end - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(st, buf, end / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24); out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8); out[4 * i + 3] = (uint8_t)st[i];
    }
}

typedef struct {
    const uint32_t *mids;       /* per key: inner midstate (8 words) then outer (8 words) */
    const int32_t *key_index;   /* per row, or NULL: key 0 for every row */
    const int32_t *value_index; /* per row, or NULL: row r hashes value r */
    const uint8_t *prefix;
    size_t plen;
    const void *offsets;
    int wide;                   /* offsets are int64 (Arrow large_string) */
    const uint8_t *data;
    size_t lo, hi;
    int mode;                   /* 0: first 8 bytes as uint64; 1: the 32 bytes */
    uint8_t *out;
} job_t;

static void *run_job(void *arg) {
    job_t *j = (job_t *)arg;
    uint8_t inner[32], mac[32];
    for (size_t r = j->lo; r < j->hi; r++) {
        int64_t a, b;
        size_t v = j->value_index ? (size_t)j->value_index[r] : r;
        if (j->wide) { a = ((const int64_t *)j->offsets)[v]; b = ((const int64_t *)j->offsets)[v + 1]; }
        else { a = ((const int32_t *)j->offsets)[v]; b = ((const int32_t *)j->offsets)[v + 1]; }
        const uint32_t *mid = j->mids + 16 * (j->key_index ? j->key_index[r] : 0);
        hash_after_block(mid, j->prefix, j->plen, j->data + a, (size_t)(b - a), inner);
        hash_after_block(mid + 8, NULL, 0, inner, 32, mac);
        if (j->mode == 0) {
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = v << 8 | mac[i];
            ((uint64_t *)j->out)[r] = v;
        } else {
            memcpy(j->out + 32 * r, mac, 32);
        }
    }
    return NULL;
}

/* midstates(pads: bytes of k*128, ipad||opad per key) -> bytes of k*64 */
static PyObject *py_midstates(PyObject *self, PyObject *args) {
    Py_buffer pads;
    if (!PyArg_ParseTuple(args, "y*", &pads)) return NULL;
    if (pads.len % 128) { PyBuffer_Release(&pads); PyErr_SetString(PyExc_ValueError, "pads: 128 bytes a key"); return NULL; }
    Py_ssize_t k = pads.len / 128;
    PyObject *res = PyBytes_FromStringAndSize(NULL, k * 64);
    if (!res) { PyBuffer_Release(&pads); return NULL; }
    uint32_t *out = (uint32_t *)PyBytes_AS_STRING(res);
    for (Py_ssize_t i = 0; i < k; i++) {
        for (int h = 0; h < 2; h++) {
            uint32_t *st = out + 16 * i + 8 * h;
            memcpy(st, H0, sizeof H0);
            compress(st, (const uint8_t *)pads.buf + 128 * i + 64 * h, 1);
        }
    }
    PyBuffer_Release(&pads);
    return res;
}

/* hmac(mids, key_index|None, value_index|None, prefix, offsets, wide, data, nvals, n, mode, out, threads):
 * n output rows; row r hashes value value_index[r] (or r) of the nvals values. */
static PyObject *py_hmac(PyObject *self, PyObject *args) {
    Py_buffer mids, prefix, offsets, data, out, kidx = {0}, vidx = {0};
    PyObject *kidx_obj, *vidx_obj;
    int wide, mode, threads;
    Py_ssize_t nvals, n;
    if (!PyArg_ParseTuple(args, "y*OOy*y*py*nniw*i", &mids, &kidx_obj, &vidx_obj, &prefix, &offsets, &wide, &data,
                          &nvals, &n, &mode, &out, &threads))
        return NULL;
    int have_kidx = kidx_obj != Py_None, have_vidx = vidx_obj != Py_None;
    PyObject *ret = NULL;
    if (have_kidx && PyObject_GetBuffer(kidx_obj, &kidx, PyBUF_SIMPLE) < 0) goto done_nokidx;
    if (have_vidx && PyObject_GetBuffer(vidx_obj, &vidx, PyBUF_SIMPLE) < 0) goto done_novidx;
    size_t width = wide ? 8 : 4, per = mode == 0 ? 8 : 32;
    if (n < 0 || nvals < 0 || (!have_vidx && nvals < n) || (size_t)offsets.len < (size_t)(nvals + 1) * width ||
        (size_t)out.len < (size_t)n * per || mids.len < 64 || mids.len % 64 ||
        (have_kidx && (size_t)kidx.len < (size_t)n * 4) || (have_vidx && (size_t)vidx.len < (size_t)n * 4) ||
        (mode != 0 && mode != 1)) {
        PyErr_SetString(PyExc_ValueError, "hmac: buffer sizes do not match the row count");
        goto done;
    }
    /* Bounds: every offset within the data, every key index within the keys,
     * every value index within the values. */
    int64_t nkeys = mids.len / 64, last = 0;
    for (Py_ssize_t r = 0; r <= nvals; r++) {
        int64_t o = wide ? ((const int64_t *)offsets.buf)[r] : ((const int32_t *)offsets.buf)[r];
        if (o < last || o > data.len) { PyErr_SetString(PyExc_ValueError, "hmac: bad offsets"); goto done; }
        last = o;
    }
    if (have_kidx)
        for (Py_ssize_t r = 0; r < n; r++) {
            int32_t k = ((const int32_t *)kidx.buf)[r];
            if (k < 0 || k >= nkeys) { PyErr_SetString(PyExc_ValueError, "hmac: bad key index"); goto done; }
        }
    if (have_vidx)
        for (Py_ssize_t r = 0; r < n; r++) {
            int32_t v = ((const int32_t *)vidx.buf)[r];
            if (v < 0 || v >= nvals) { PyErr_SetString(PyExc_ValueError, "hmac: bad value index"); goto done; }
        }
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    if (n < 8192) threads = 1;
    job_t jobs[16];
    pthread_t tids[16];
    Py_BEGIN_ALLOW_THREADS
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){mids.buf, have_kidx ? kidx.buf : NULL, have_vidx ? vidx.buf : NULL, prefix.buf, (size_t)prefix.len, offsets.buf, wide,
                          data.buf, (size_t)n * t / threads, (size_t)n * (t + 1) / threads, mode, out.buf};
    }
    int started = 1;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, run_job, &jobs[t]) != 0) { /* run it here instead */
            run_job(&jobs[t]);
            tids[t] = 0;
        }
        started++;
    }
    run_job(&jobs[0]);
    for (int t = 1; t < started; t++)
        if (tids[t]) pthread_join(tids[t], NULL);
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    if (have_vidx) PyBuffer_Release(&vidx);
done_novidx:
    if (have_kidx) PyBuffer_Release(&kidx);
done_nokidx:
    PyBuffer_Release(&mids); PyBuffer_Release(&prefix); PyBuffer_Release(&offsets);
    PyBuffer_Release(&data); PyBuffer_Release(&out);
    return ret;
}

static PyObject *py_engine(PyObject *self, PyObject *args) { return PyUnicode_FromString(engine); }

static PyObject *py_use_portable(PyObject *self, PyObject *args) {
    int portable;
    if (!PyArg_ParseTuple(args, "p", &portable)) return NULL;
    compress = compress_portable;
    engine = "portable";
#ifdef HAVE_X86
    if (!portable && cpu_has_shani()) { compress = compress_shani; engine = "sha-ni"; }
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"midstates", py_midstates, METH_VARARGS, "SHA-256 states after each key's inner and outer pad."},
    {"hmac", py_hmac, METH_VARARGS, "HMAC-SHA256 of prefix||value for each string of an Arrow column."},
    {"engine", py_engine, METH_NOARGS, "Which block function is in use."},
    {"use_portable", py_use_portable, METH_VARARGS, "Force (True) or release (False) the portable block function."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_prfcore", NULL, -1, methods};

PyMODINIT_FUNC PyInit__prfcore(void) {
#ifdef HAVE_X86
    if (cpu_has_shani()) { compress = compress_shani; engine = "sha-ni"; }
#endif
    return PyModule_Create(&module);
}
