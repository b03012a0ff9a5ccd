#ifndef INCLUDE_MEM_H
#define INCLUDE_MEM_H

#include <stdarg.h>
#include <stddef.h>

/*
 * The one out-of-memory policy: an allocation that fails aborts the
 * process. The daemon allocates a few KiB at a time; when even that fails
 * it can neither probe nor answer truthfully, and a clean abort lets
 * systemd (Restart=on-failure) or Kubernetes start it afresh, where a
 * half-built answer or a silently skipped probe would lie. So no caller
 * checks for NULL, and no module carries a sticky failure flag.
 */

/* Never return NULL. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* For a library call that returned NULL because it could not allocate
 * (curl_easy_init(), MHD_create_response_from_buffer(), ...): aborts. */
_Noreturn void mem_oom(void);

/* Wipes len bytes at p in a way the compiler may not drop: for memory
 * that held a secret, before it is freed or reused. */
void mem_wipe(void *p, size_t len);

/*
 * Routes cJSON's allocations through xmalloc(), so a JSON tree that cannot
 * be built aborts like everything else instead of coming back NULL half
 * way. cJSON keeps its hooks in globals: call once, in main() before any
 * thread starts.
 */
void mem_init(void);

#endif
