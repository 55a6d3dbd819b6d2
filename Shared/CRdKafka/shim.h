#ifndef PASSERELLE_CRDKAFKA_SHIM_H
#define PASSERELLE_CRDKAFKA_SHIM_H
// rdkafka_mock.h refuses to be included before rdkafka.h.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
