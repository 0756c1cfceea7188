/* The MPI_Init probe's text buffer and JSON writers (probe.h): hand-written so that the preloaded
 * library needs nothing beyond libc. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

static int reserve(Buf* b, size_t more) {
  if (b->failed) return 0;
  if (b->len + more + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  char* data = realloc(b->data, cap);
  if (!data) {
    b->failed = 1;
    return 0;
  }
  b->data = data;
  b->cap = cap;
  return 1;
}

void buf_add(Buf* b, const char* s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void buf_str(Buf* b, const char* s) {
  buf_add(b, s, strlen(s));
}

void buf_fmt(Buf* b, const char* fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
  } else if ((size_t)n < sizeof small) {
    buf_add(b, small, (size_t)n);
  } else if (reserve(b, (size_t)n)) {
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
  }
}

void buf_json(Buf* b, const char* s) {
  if (s)
    buf_json_n(b, s, strlen(s));
  else
    buf_str(b, "null");
}

void buf_json_n(Buf* b, const char* s, size_t n) {
  buf_str(b, "\"");
  for (const unsigned char* p = (const unsigned char*)s; p < (const unsigned char*)s + n; ++p) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      buf_add(b, esc, 2);
    } else if (*p < 0x20) {
      buf_fmt(b, "\\u%04x", *p);
    } else {
      buf_add(b, (const char*)p, 1);
    }
  }
  buf_str(b, "\"");
}

static int bit(const unsigned long* bits, size_t i) {
  const size_t w = 8 * sizeof(unsigned long);
  return (bits[i / w] >> (i % w)) & 1UL;
}

void buf_bit_list(Buf* b, const unsigned long* bits, size_t nbits) {
  buf_str(b, "\"");
  const char* sep = "";
  for (size_t i = 0; i < nbits; ++i) {
    if (!bit(bits, i)) continue;
    size_t last = i;
    while (last + 1 < nbits && bit(bits, last + 1)) ++last;
    if (last == i)
      buf_fmt(b, "%s%zu", sep, i);
    else
      buf_fmt(b, "%s%zu-%zu", sep, i, last);
    sep = ",";
    i = last;
  }
  buf_str(b, "\"");
}
