/*
 * Dataset snapshots (docs/SNAPSHOTS.md): `xcensus export --snapshot DIR`
 * writes every dataset table of the census as CSV (RFC 4180, COPY TO
 * STDOUT) and JSON Lines (lib/pgjson, the conversion of `xcensus query` and
 * the API), read in one REPEATABLE READ read-only transaction, plus
 * manifest.json (format, xcensus and schema versions, sources
 * and crawl runs, row counts, SHA-256 of every file, method and privacy
 * notes), README.md, CITATION.cff and SHA256SUMS. `xcensus import snapshot
 * DIR` verifies the manifest and every file before it touches a database,
 * then loads an empty one with COPY in one transaction.
 *
 * Which tables are the dataset and which are the crawler's operational
 * state (job queue, store ledger, deny list, migrations) is decided here,
 * in one table; an export refuses a database that holds a table this
 * module has not classified, so that a new table can never be silently
 * left out. A snapshot is untrusted input when it is imported: names,
 * counts, sizes and line lengths are bounded and checked.
 *
 * This module talks to libpq directly (COPY TO STDOUT and the error
 * context of COPY FROM are not in lib/pg.h).
 */
#ifndef XC_SNAPSHOT_H
#define XC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common.h"

struct pg_conn;

#define SNAPSHOT_FORMAT "xcensus-snapshot"
#define SNAPSHOT_FORMAT_VERSION 1

enum snapshot_table_kind {
    SNAPSHOT_UNKNOWN,     /* not classified: an export refuses it */
    SNAPSHOT_DATASET,     /* exported and imported */
    SNAPSHOT_OPERATIONAL, /* queue and bookkeeping: never exported */
    SNAPSHOT_DERIVED,     /* rollups rebuilt by triggers: never exported */
    SNAPSHOT_KIND__COUNT
};

/* "unknown", "dataset", "operational", "derived". */
const char *snapshot_table_kind_name(enum snapshot_table_kind k);
/* How the table called name is treated. */
enum snapshot_table_kind snapshot_table_kind(const char *name);
/* Number of dataset tables, in load (foreign key) order. */
size_t snapshot_dataset_count(void);
/* Name of dataset table i; static. */
const char *snapshot_dataset_name(size_t i);
/* Comma-separated columns of dataset table name that are never exported
 * (operational state), or NULL; static. */
const char *snapshot_excluded_columns(const char *name);

struct snapshot_export_opts {
    const char *dir;            /* target directory */
    bool force;                 /* replace a non-empty dir (files only) */
    const char *const *sources; /* source names to include; NULL: all */
    size_t nsources;
    const char *title;          /* NULL: a default title */
    const char *const *authors; /* CITATION.cff authors; NULL: default */
    size_t nauthors;
};

/* What an export or import did. */
struct snapshot_stats {
    size_t tables;
    long long rows;        /* over every table */
    long long bytes;       /* data files (CSV + JSONL) */
    long long total_bytes; /* every file of the snapshot */
    double seconds;        /* wall time of the whole operation */
    double verify_seconds; /* import: checking files before loading */
    char data_digest[65];  /* SHA-256 over the data files' checksums */
};

/* Writes a snapshot of the database c to o->dir (created through a
 * temporary directory next to it, renamed when complete). Refuses a
 * non-empty o->dir unless o->force. Messages go to errf. Returns true and
 * fills st on success. */
bool snapshot_export(struct pg_conn *c, const struct snapshot_export_opts *o,
                     struct snapshot_stats *st, FILE *errf) MUST_CHECK;

/* Checks the snapshot in dir without a database: the manifest, the size and
 * SHA-256 of every file, the CSV and JSON Lines structure, row counts and
 * headers, and that this program knows its format and schema version.
 * Every problem is reported on errf as "PATH:LINE: reason" or "PATH:
 * reason". Returns true if the snapshot can be imported. */
bool snapshot_verify(const char *dir, struct snapshot_stats *st,
                     FILE *errf) MUST_CHECK;

/* Verifies dir (as snapshot_verify), refuses a database c that holds any
 * row, migrates it, loads every table with COPY in one transaction in
 * foreign key order, checks the row counts, resets the sequences and
 * commits. Nothing is loaded on any failure. */
bool snapshot_import(struct pg_conn *c, const char *dir,
                     struct snapshot_stats *st, FILE *errf) MUST_CHECK;

#endif
