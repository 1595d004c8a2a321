/*
 * Software and service information found in disco#info and friends:
 * XEP-0232 softwareinfo forms (software, version, OS, icon presence),
 * XEP-0157 contact addresses (serverinfo form), muc#roominfo fields, and
 * XEP-0092 jabber:iq:version answers parsed from XML text (bounded, same
 * hostile-input rules as disco_parse()). Any other FORM_TYPE's fields are
 * available generically through disco_find_form() / dataform_value().
 * Extracted strings are copies the caller frees with the *_free()
 * functions; nothing here keeps pointers into the disco_info.
 */
#ifndef XC_SOFTINFO_H
#define XC_SOFTINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "disco.h"

#define SOFTINFO_FORM_TYPE "urn:xmpp:dataforms:softwareinfo"
#define SOFTINFO_SERVERINFO "http://jabber.org/network/serverinfo"
#define SOFTINFO_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define SOFTINFO_NS_VERSION "jabber:iq:version"

/* XEP-0232: from the first form with FORM_TYPE urn:xmpp:dataforms:
 * softwareinfo. Fields absent are NULL. */
struct softinfo {
    bool present; /* a softwareinfo form exists */
    char *software;
    char *software_version;
    char *os;
    char *os_version;
    bool has_icon; /* `icon` field present (media or value) */
};

/* Fills si from info (zeroes it first). Returns si->present. */
bool softinfo_extract(const struct disco_info *info, struct softinfo *si);
void softinfo_free(struct softinfo *si);

/* XEP-0157: one address of a serverinfo form. */
struct softinfo_contact {
    char *kind; /* field var without "-addresses": "abuse", "admin", ... */
    char *uri;  /* one value, as received */
};

struct softinfo_contacts {
    struct softinfo_contact *items; /* form order, then value order */
    size_t n;
};

/* Collects every value of every *-addresses field of the first serverinfo
 * form (empty values skipped). Returns the number found. */
size_t softinfo_contacts_extract(const struct disco_info *info,
                                 struct softinfo_contacts *out);
void softinfo_contacts_free(struct softinfo_contacts *c);

/* muc#roominfo: the common fields; every field stays available through
 * disco_find_form(info, SOFTINFO_ROOMINFO). */
struct softinfo_room {
    bool present;
    long occupants;    /* muc#roominfo_occupants, -1 if absent/invalid */
    char *description; /* muc#roominfo_description */
    char *subject;     /* muc#roominfo_subject */
    char *lang;        /* muc#roominfo_lang */
    char *logs;        /* muc#roominfo_logs */
    char *contactjid;  /* first muc#roominfo_contactjid (service
                          contact, not an occupant) */
};

/* Fills r from info (zeroes it first). Returns r->present. */
bool softinfo_room_extract(const struct disco_info *info,
                           struct softinfo_room *r);
void softinfo_room_free(struct softinfo_room *r);

/* XEP-0092 result. name/version REQUIRED by the XEP but NULL here when
 * missing; os optional. */
struct softinfo_version {
    char *name;
    char *version;
    char *os;
};

/* Parses a <query xmlns='jabber:iq:version'/> or an <iq/> holding one,
 * with the limits of disco_parse() (lim NULL = default; max_string bounds
 * each field). Fills v (zeroed first) and returns true, or returns false
 * with err set (codes are enum disco_err). Caller frees with
 * softinfo_version_free(). */
bool softinfo_version_parse(const char *xml, size_t len,
                            const struct disco_limits *lim,
                            struct softinfo_version *v,
                            struct parse_err *err) MUST_CHECK;
void softinfo_version_free(struct softinfo_version *v);

#endif
