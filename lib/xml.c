/*
 * Expat configured for hostile input (see xml.h).
 */
#include "xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void xml_fail(struct xml_guard *g, int code, const char *fmt, ...)
{
    if (g->err->code == 0) {
        g->err->code = code;
        g->err->line = (int)XML_GetCurrentLineNumber(g->p);
        g->err->column = (int)XML_GetCurrentColumnNumber(g->p) + 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err->msg, sizeof g->err->msg, fmt, ap);
        va_end(ap);
    }
    XML_StopParser(g->p, XML_FALSE);
}

void xml_fail_expat(struct xml_guard *g, int code)
{
    if (g->err->code != 0)
        return;
    g->err->code = code;
    g->err->line = (int)XML_GetCurrentLineNumber(g->p);
    g->err->column = (int)XML_GetCurrentColumnNumber(g->p) + 1;
    snprintf(g->err->msg, sizeof g->err->msg, "xml: %s",
             XML_ErrorString(XML_GetErrorCode(g->p)));
}

static void XMLCALL on_doctype(void *ud, const char *name, const char *sysid,
                               const char *pubid, int has_internal)
{
    struct xml_guard *g = ud;
    xml_fail(g, g->doctype_code, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity(void *ud, const char *name, int is_param,
                              const char *value, int value_len,
                              const char *base, const char *sysid,
                              const char *pubid, const char *notation)
{
    struct xml_guard *g = ud;
    xml_fail(g, g->doctype_code, "entity declarations are not allowed");
}

XML_Parser xml_parser_new(struct xml_guard *ud)
{
    XML_Parser p = XML_ParserCreateNS("UTF-8", XML_NS_SEP);
    if (p == NULL)
        DIE_BUG("out of memory creating an XML parser");
    ud->p = p;
    XML_SetUserData(p, ud);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    return p;
}

const char *xml_local_name(const char *name)
{
    const char *sep = strrchr(name, XML_NS_SEP);
    return sep ? sep + 1 : name;
}
