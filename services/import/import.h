/*
 * import.h - import-svc's POST handler (API.md, "Import, export, verify").
 *
 *   POST /api/import[?dryRun=1]   a legacy export document (or a part of one) into the
 *                                 store; answers the report of migrate/importer.h
 *
 * It takes the IMPORT_TOKEN service token (the router checks it). GET
 * /api/export is export.h's.
 */
#ifndef IMPORT_SVC_H
#define IMPORT_SVC_H

#include "server.h"

void import_post(struct cs_request *req);

#endif
