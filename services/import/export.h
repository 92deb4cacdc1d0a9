/*
 * export.h - import-svc's GET handler (API.md, "Import, export, verify").
 *
 *   GET  /api/export[?userId=U]   the store (or one user) back as a legacy export,
 *                                 streamed (migrate/exporter.h)
 *
 * It takes the IMPORT_TOKEN service token (the router checks it).
 */
#ifndef IMPORT_SVC_EXPORT_H
#define IMPORT_SVC_EXPORT_H

#include "server.h"

void export_get(struct cs_request *req);

#endif
