"""Expected service discovery of the test network's servers, per module.

What Prosody 0.12.3 (Debian 12) and ejabberd 23.01 (Debian 12) announce in
disco#info for each module the test net enables. Prosody's entries are read
from its sources (/usr/lib/prosody/modules/*.lua). ejabberd is installed as
.beam files only: its entries were written from what the modules register
and corrected once against a running 23.01 (corrections: no
urn:xmpp:mam:2#extended, mod_private adds no server feature, mod_offline
also adds http://jabber.org/protocol/offline, the MUC service adds rsm and
mucsub but not commands, every entity carries an empty serverinfo form, the
pep plugin puts identity pubsub/pep and the pubsub features on the host, the
version is the Debian one "23.01-1" and os is "unix/linux X.Y.Z"; for
Prosody: mod_uptime pulls in adhoc, the MUC adds commands and occupant-id,
the pubsub feature list, and the contact form lists the unset fields).
tests/testnet/selftest checks them against real answers on every run.
`testnet up` builds the truth file from these tables, never from querying
the servers.
"""

PROSODY_VERSION = "0.12.3"
EJABBERD_VERSION = "23.01-1"   # Debian package version

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

# Prosody: modules loaded on every VirtualHost (global modules_enabled plus
# the autoloaded ones: presence, message, iq, offline, c2s, s2s,
# s2s_auth_certs) and what they add to the host's disco#info.
PROSODY_BASE_MODULES = ["roster", "saslauth", "disco", "dialback"]
PROSODY_BASE_FEATURES = [
    DISCO_INFO, DISCO_ITEMS,
    "jabber:iq:roster",        # mod_roster
    "msgoffline",              # mod_offline (autoloaded)
]
PROSODY_HOST_IDENTITIES = [
    {"category": "server", "type": "im", "name": "Prosody", "lang": None},
]

# Optional VirtualHost modules: name -> (share of domains, disco features).
# Modules with no disco feature only show in stream features or on account
# JIDs (smacks, csi_simple, s2s_bidi, mam, pep).
PROSODY_OPTIONAL = {
    "carbons": (0.8, ["urn:xmpp:carbons:2", "urn:xmpp:carbons:rules:0"]),
    "mam": (0.6, []),
    "smacks": (0.7, []),
    "csi_simple": (0.6, []),
    "blocklist": (0.7, ["urn:xmpp:blocking"]),
    "s2s_bidi": (0.3, []),
    "register": (0.3, ["jabber:iq:register"]),
    "server_contact_info": (0.4, []),
    "version": (0.7, ["jabber:iq:version"]),
    "uptime": (0.4, ["jabber:iq:last",
                     "http://jabber.org/protocol/commands"]),  # needs adhoc
    "time": (0.5, ["urn:xmpp:time", "jabber:iq:time"]),
    "ping": (0.9, ["urn:xmpp:ping"]),
    "vcard_legacy": (0.5, ["vcard-temp"]),
    "private": (0.6, ["jabber:iq:private"]),
    "pep": (0.7, []),
    "bookmarks": (0.4, ["jabber:iq:private"]),   # needs pep
    "adhoc": (0.4, ["http://jabber.org/protocol/commands"]),
}

# Prosody components: kind -> (component module, identities, features,
# extra per-component modules and their features)
PROSODY_MUC_IDENTITIES = [
    {"category": "conference", "type": "text", "name": "Prosody Chatrooms",
     "lang": None},
]
PROSODY_MUC_FEATURES = [
    DISCO_INFO, DISCO_ITEMS,
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/muc#unique",   # mod_muc_unique (dependency)
    "http://jabber.org/protocol/commands",     # mod_adhoc (dependency)
    "urn:xmpp:occupant-id:0",                  # muc/occupant_id.lib.lua
]
PROSODY_MUC_MAM_FEATURES = ["urn:xmpp:mam:2"]

PROSODY_PUBSUB_IDENTITIES = [
    {"category": "pubsub", "type": "service", "name": "Prosody PubSub Service",
     "lang": None},
]
# lib_pubsub.get_feature_set() of Prosody 0.12 with default options
PROSODY_PUBSUB_FEATURES = [DISCO_INFO, DISCO_ITEMS,
                           "http://jabber.org/protocol/pubsub"] + [
    "http://jabber.org/protocol/pubsub#" + f for f in [
        "access-open", "config-node", "config-node-max", "create-and-configure",
        "create-nodes", "delete-items", "delete-nodes", "instant-nodes",
        "item-ids", "member-affiliation", "meta-data", "modify-affiliations",
        "multi-items", "outcast-affiliation", "persistent-items",
        "publish", "publish-options", "publisher-affiliation", "purge-nodes",
        "retract-items", "retrieve-default",
        "retrieve-items", "retrieve-subscriptions", "subscribe",
        "subscription-options"]]

PROSODY_UPLOAD_IDENTITIES = [
    {"category": "store", "type": "file", "name": "HTTP File Upload",
     "lang": None},
]
PROSODY_UPLOAD_FEATURES = [DISCO_INFO, DISCO_ITEMS, "urn:xmpp:http:upload:0"]
PROSODY_UPLOAD_LIMIT = 10485760
PROSODY_UPLOAD_FORMS = [{
    "form_type": "urn:xmpp:http:upload:0",
    "fields": [
        {"var": "FORM_TYPE", "type": "hidden",
         "values": ["urn:xmpp:http:upload:0"]},
        {"var": "max-file-size", "type": "text-single",
         "values": [str(PROSODY_UPLOAD_LIMIT)]},
    ]}]

PROSODY_PROXY_IDENTITIES = [
    {"category": "proxy", "type": "bytestreams",
     "name": "SOCKS5 Bytestreams Service", "lang": None},
]
PROSODY_PROXY_FEATURES = [DISCO_INFO, DISCO_ITEMS,
                          "http://jabber.org/protocol/bytestreams"]

# ejabberd 23.01: modules of every host and their disco#info features
EJABBERD_HOST_IDENTITIES = [
    {"category": "server", "type": "im", "name": "ejabberd", "lang": None},
]
EJABBERD_BASE_MODULES = ["mod_disco", "mod_roster", "mod_muc"]
EJABBERD_BASE_FEATURES = [
    DISCO_INFO, DISCO_ITEMS, "iq", "presence",
]
EJABBERD_OPTIONAL = {
    "mod_stream_mgmt": (0.7, []),
    "mod_carboncopy": (0.8, ["urn:xmpp:carbons:2", "urn:xmpp:carbons:rules:0"]),
    "mod_mam": (0.5, ["urn:xmpp:mam:0", "urn:xmpp:mam:1", "urn:xmpp:mam:2",
                      "urn:xmpp:mam:tmp"]),
    "mod_client_state": (0.6, []),
    "mod_blocking": (0.7, ["urn:xmpp:blocking"]),          # needs mod_privacy
    "mod_privacy": (0.7, ["jabber:iq:privacy"]),
    "mod_register": (0.3, ["jabber:iq:register"]),
    "mod_version": (0.7, ["jabber:iq:version"]),
    "mod_time": (0.5, ["urn:xmpp:time"]),
    "mod_ping": (0.9, ["urn:xmpp:ping"]),
    "mod_last": (0.4, ["jabber:iq:last"]),
    "mod_vcard": (0.6, ["vcard-temp"]),
    "mod_private": (0.6, []),
    "mod_adhoc": (0.5, ["http://jabber.org/protocol/commands"]),
    "mod_offline": (0.7, ["msgoffline", "http://jabber.org/protocol/offline"]),
    "server_info": (0.4, []),                             # mod_disco option
}
EJABBERD_MUC_IDENTITIES = [
    {"category": "conference", "type": "text", "name": "Chatrooms",
     "lang": None},
]
EJABBERD_MUC_FEATURES = [
    DISCO_INFO, DISCO_ITEMS, "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/muc#unique", "jabber:iq:register",
    "vcard-temp", "http://jabber.org/protocol/rsm", "urn:xmpp:mucsub:0",
]
EJABBERD_MUC_MAM_FEATURES = ["urn:xmpp:mam:0", "urn:xmpp:mam:1",
                             "urn:xmpp:mam:2", "urn:xmpp:mam:tmp"]
EJABBERD_PUBSUB_IDENTITIES = [
    {"category": "pubsub", "type": "service", "name": "Publish-Subscribe",
     "lang": None},
]
# mod_pubsub with plugins flat + pep: the service's features; the pep
# plugin also puts identity pubsub/pep and the pubsub features on the host
EJABBERD_PUBSUB_NODE_FEATURES = ["http://jabber.org/protocol/pubsub"] + [
    "http://jabber.org/protocol/pubsub#" + f for f in [
        "access-authorize", "access-open", "access-presence",
        "access-whitelist", "auto-create", "auto-subscribe", "collections",
        "config-node", "config-node-max", "create-and-configure",
        "create-nodes", "delete-items", "delete-nodes",
        "filtered-notifications", "get-pending", "instant-nodes", "item-ids",
        "last-published", "manage-subscriptions", "member-affiliation",
        "modify-affiliations", "multi-items", "outcast-affiliation",
        "persistent-items", "presence-notifications", "presence-subscribe",
        "publish", "publish-only-affiliation", "publish-options",
        "publisher-affiliation", "purge-nodes", "retract-items",
        "retrieve-affiliations", "retrieve-default", "retrieve-items",
        "retrieve-subscriptions", "shim", "subscribe",
        "subscription-notifications"]]
EJABBERD_PUBSUB_FEATURES = [DISCO_INFO, DISCO_ITEMS, "vcard-temp",
                            "http://jabber.org/protocol/commands"] + \
    EJABBERD_PUBSUB_NODE_FEATURES
EJABBERD_PEP_IDENTITIES = [
    {"category": "pubsub", "type": "pep", "name": None, "lang": None},
]
EJABBERD_PROXY_IDENTITIES = [
    {"category": "proxy", "type": "bytestreams", "name": "SOCKS5 Bytestreams",
     "lang": None},
]
EJABBERD_PROXY_FEATURES = [DISCO_INFO, DISCO_ITEMS, "vcard-temp",
                           "http://jabber.org/protocol/bytestreams"]


def ejabberd_empty_serverinfo():
    """mod_disco of ejabberd always adds a serverinfo form, empty unless
    server_info is configured; every host and component shows it."""
    return {"form_type": "http://jabber.org/network/serverinfo", "fields": [
        {"var": "FORM_TYPE", "type": "hidden",
         "values": ["http://jabber.org/network/serverinfo"]}]}


def ejabberd_os():
    """What ejabberd's mod_version says as os: "unix/linux X.Y.Z" from the
    running kernel's numeric release."""
    import os
    import re
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", os.uname().release)
    rel = ".".join(m.groups()) if m else os.uname().release
    return "unix/" + os.uname().sysname.lower() + " " + rel


def contact_form(domain, server="ejabberd"):
    """XEP-0157 server contact form the test net configures for DOMAIN;
    Prosody also lists the unset address fields, without values."""
    form = {
        "form_type": "http://jabber.org/network/serverinfo",
        "fields": [
            {"var": "FORM_TYPE", "type": "hidden",
             "values": ["http://jabber.org/network/serverinfo"]},
            {"var": "abuse-addresses", "type": "list-multi",
             "values": ["mailto:abuse@" + domain]},
            {"var": "admin-addresses", "type": "list-multi",
             "values": ["xmpp:admin@" + domain]},
        ]}
    if server == "prosody":
        for name in ("feedback", "sales", "security", "status", "support"):
            form["fields"].append({"var": name + "-addresses",
                                   "type": "list-multi", "values": []})
    return form
