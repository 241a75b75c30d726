// The load generator's view of Linux's epoll(7), which Swift's Glibc module does not export.
#ifndef FERRY_CEPOLL_H
#define FERRY_CEPOLL_H
#ifdef __linux__
#include <sys/epoll.h>
#endif
#endif
