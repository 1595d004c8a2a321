/*
 * Expat set up for hostile input, shared by the parsers of remote XML
 * (disco.c, softinfo.c): encoding forced to UTF-8 (invalid UTF-8 is an
 * error), namespace processing with ' ' between URI and local name,
 * DOCTYPE and entity declarations refused (so no entity expansion and no
 * external fetch), and the parse error filled in a struct parse_err.
 */
#ifndef XC_XML_H
#define XC_XML_H

#include <expat.h>

#include "common.h"

#define XML_NS_SEP ' '
#define XML_LANG_ATTR "http://www.w3.org/XML/1998/namespace lang"

/* Must be the first member of the parser's user data: the DOCTYPE and
 * entity handlers find the error record through it. */
struct xml_guard {
    XML_Parser p;
    struct parse_err *err;
    int doctype_code; /* err->code to set when a DOCTYPE is seen */
};

/* Creates a parser for ud (which starts with a struct xml_guard whose p
 * is set here); free with XML_ParserFree(). Aborts on OOM. */
XML_Parser xml_parser_new(struct xml_guard *ud);
/* Records an error (first one wins: code, position, message) and stops
 * the parser. */
void xml_fail(struct xml_guard *g, int code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
/* After XML_Parse() failed: records expat's own error with code unless
 * a handler already recorded one. */
void xml_fail_expat(struct xml_guard *g, int code);
/* Returns the local part of an expat name ("ns local" -> "local"). */
const char *xml_local_name(const char *name);

#endif
