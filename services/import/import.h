/*
 * import.h - the handlers of import-svc (API.md, "Import, export, verify").
 *
 *   POST /api/import[?dryRun=1]   a legacy export document (or a part of one) into the
 *                                 store; answers the report of migrate/importer.h
 *   GET  /api/export[?userId=U]   the store (or one user) back as a legacy export,
 *                                 streamed (migrate/exporter.h)
 *
 * Both take the IMPORT_TOKEN service token (the router checks it).
 */
#ifndef IMPORT_SVC_H
#define IMPORT_SVC_H

#include "server.h"

void import_post(struct cs_request *req);
void export_get(struct cs_request *req);

#endif
