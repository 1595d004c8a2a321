/*
 * Fuzz target: a server's stream prefix (header, <stream:features/>,
 * <proceed/>, <stream:error/>) -> the direct prober's reader, whole and
 * split at a point taken from the input, with small limits. Nothing may
 * crash, leak or read out of bounds, and both ways must agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct direct_reader_limits lim = {
        .max_bytes = 16 << 10, .max_depth = 12, .max_elements = 200};
    const char *text = (const char *)data;
    struct direct_features f;
    struct parse_err err;
    enum direct_outcome o = direct_features_parse(text, size, &lim, &f, &err);
    if ((unsigned)o >= DOUT__COUNT)
        abort();

    /* the same bytes in two pieces */
    struct direct_reader *r = direct_reader_new(&lim);
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (direct_reader_feed(r, text, cut))
        direct_reader_feed(r, text + cut, size - cut);
    struct direct_reader_state s;
    direct_reader_state(r, &s);
    if (o == DOUT_OK && !s.features)
        abort();
    if (s.features && strlen(s.f->stream_version) >= sizeof f.stream_version)
        abort();
    direct_reader_free(r);
    return 0;
}
