// Nothing to compile: the header is the whole module.
#include "CEpoll.h"
