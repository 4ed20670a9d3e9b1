/* SPDX-License-Identifier: MIT */
/*
 * metrics_labels.c: the names the metrics registry (core/base/metrics.h)
 * renders for request kinds and statuses: the fields of lms.Request's
 * oneof and the values of lms.Status, from the protocol's descriptors.
 */
#include "metrics_labels.h"

#include "client.pb-c.h"
#include "metrics.h"

/* Slots: 0 for a frame that did not decode, 1 for a kind this build does
 * not know, then the oneof's fields in the descriptor's order. */
static size_t op_slot(int body)
{
    if (body == 0)
        return 0;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&lms__request__descriptor,
                                                (unsigned)body);
    if (!f)
        return 1;
    return 2 + (size_t)(f - lms__request__descriptor.fields);
}

static const char *op_name(size_t slot)
{
    if (slot == 0)
        return "undecodable";
    if (slot == 1)
        return "unknown";
    if (slot - 2 >= lms__request__descriptor.n_fields)
        return NULL;
    const ProtobufCFieldDescriptor *f = &lms__request__descriptor.fields[slot - 2];
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? f->name : NULL;
}

static size_t status_slot(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lms__status__descriptor, status);
    return v ? (size_t)(v - lms__status__descriptor.values) : (size_t)-1;
}

static const char *status_name(size_t slot)
{
    return slot < lms__status__descriptor.n_values
               ? lms__status__descriptor.values[slot].name
               : NULL;
}

void metrics_labels_install(void)
{
    static metrics_labels labels = {
        .op_slot = op_slot,
        .op_name = op_name,
        .status_slot = status_slot,
        .status_name = status_name,
    };
    size_t n = 2 + lms__request__descriptor.n_fields;
    labels.n_ops = n < METRICS_OPS ? n : METRICS_OPS;
    metrics_set_labels(&labels);
}
