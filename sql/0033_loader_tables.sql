-- 0033_loader_tables: what `xcensus analyze` reads, kept where a load of
-- 1e6 entries can read it quickly.
--
-- 1. content_loader_rows: each content's XML size and feature ids in a
-- narrow table. The loader read them from disco_contents, whose rows hold
-- the raw XML inline (1.1 GB at 1e6 contents): the scan alone took 0.47 s
-- and sending feature_ids as int4[] (binary COPY, one call per element)
-- another 1.3 s of PostgreSQL's time; from this table, the ids packed as
-- 4-byte big-endian integers in a bytea, the same read takes 0.22 s. A
-- trigger fills it as contents are inserted (they are never updated).

CREATE FUNCTION xc_pack_int4s(a integer[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(int4send(x), ''::bytea ORDER BY o), ''::bytea)
    FROM unnest(a) WITH ORDINALITY AS u(x, o)
$$;

CREATE TABLE content_loader_rows (
    content_id   bigint PRIMARY KEY,  -- disco_contents.id (inserted by its trigger
                                      -- only, so no foreign key check is paid)
    xml_bytes    integer NOT NULL,  -- octet_length(xml)
    feature_ids  bytea NOT NULL     -- disco_contents.feature_ids, xc_pack_int4s()
);

CREATE FUNCTION xc_content_loader_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_loader_rows (content_id, xml_bytes, feature_ids)
    SELECT n.id, octet_length(n.xml), xc_pack_int4s(n.feature_ids) FROM xc_new n;
    RETURN NULL;
END
$$;

CREATE TRIGGER disco_contents_loader_rows AFTER INSERT ON disco_contents
    REFERENCING NEW TABLE AS xc_new
    FOR EACH STATEMENT EXECUTE FUNCTION xc_content_loader_rows();

INSERT INTO content_loader_rows (content_id, xml_bytes, feature_ids)
SELECT id, octet_length(xml), xc_pack_int4s(feature_ids) FROM disco_contents;

-- 2. What the analyzer works out from each content's XEP-0232 form(s).
--
-- `xcensus analyze` needs, for every content carrying a software
-- information form, the software facts (softinfo_extract() on the form),
-- the bytes the form takes in the verification string S and adds to the
-- XML, and for each hash algorithm the ver of S without the form (the
-- XEP-0232 counterfactual). Reading and rebuilding the forms (a join of
-- disco_forms, disco_form_fields and disco_form_values) and sending every
-- such S to be cut and hashed again took about half of PostgreSQL's time
-- and a sixth of the analyzer's in a load of 1e6 entries. All of it is a
-- pure function of the content, and contents never change (they are
-- interned by the digest of their XML), so it is worked out once, by the
-- same code, the first time a load meets a content without it, and read
-- from here afterwards. Derived data: snapshots do not export it; an
-- import rebuilds it at its first analysis. No foreign keys: contents are
-- never deleted, a row is only ever inserted once, and the checks (a key
-- share lock on a row of the wide disco_contents each) took 5 of the 7 s
-- the first analysis of 1e6 entries spent storing these rows.

-- One row per content with a form whose FORM_TYPE is softwareinfo.
CREATE TABLE softinfo_derived (
    content_id        bigint PRIMARY KEY,  -- disco_contents.id
    present           boolean NOT NULL,  -- softinfo_extract() found the form
    software          text,
    software_version  text,
    os                text,
    os_version        text,
    form_xml_bytes    integer NOT NULL CHECK (form_xml_bytes >= 0)  -- what the forms add to the XML
);

-- The ver of a content's S without its XEP-0232 form(s), per algorithm,
-- and the bytes the forms' part took in S.
CREATE TABLE softinfo_stripped_vers (
    content_id    bigint NOT NULL,  -- softinfo_derived.content_id
    algo          text NOT NULL,
    stripped_ver  text NOT NULL CHECK (length(stripped_ver) <= 200),
    form_s_bytes  integer NOT NULL CHECK (form_s_bytes >= 0),
    PRIMARY KEY (content_id, algo)
);

-- 3. The entries stored without S (ill-formed ones that another
-- computation reproduced): the loader parses their XML, and finds them
-- through this index rather than by a scan of every entry (the S of the
-- others is inline: 974 MB at 1e6 entries).
CREATE INDEX caps_entries_without_s_idx ON caps_entries (id)
    WHERE verification_string IS NULL AND outcome IN ('valid', 'ill-formed')
      AND matched_by IS NOT NULL;
