/* SPDX-License-Identifier: MIT */
/*
 * metrics_labels.h: give the metrics registry the names of the client
 * protocol's request kinds and statuses (metrics_set_labels). Once, at
 * start, before any request is counted.
 */
#ifndef LMS_CORE_METRICS_LABELS_H
#define LMS_CORE_METRICS_LABELS_H

void metrics_labels_install(void);

#endif
