#ifndef PASSERELLE_CLIBPQ_SHIM_H
#define PASSERELLE_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>
#endif
