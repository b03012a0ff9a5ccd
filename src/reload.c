#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "notify.h"
#include "reload.h"
#include "secret.h"

/*
 * The environment as it was at start: main() blanked the secret variables
 * in its own block, so their values come back from the settings that took
 * them (the token file, when set, wins over the variable anyway). Caller
 * frees with free_environment(), which wipes the secrets.
 */
static char **
environment_for_reload(const struct settings *s)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + 1, sizeof(*envp));
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		const char *value = NULL;
		if (strncmp(e, "INTERCOM_ACCESS_TOKEN=", 22) == 0)
			value = s->token_file ? NULL : s->token;
		else if (strncmp(e, "INTERCOM_WEBHOOK_SECRET=", 24) == 0)
			value = s->webhook_secret_file ? NULL : s->webhook_secret;
		if (value)
			envp[i] = xasprintf("%.*s%s", (int)(strchr(e, '=') - e + 1), e,
					    value);
		else
			envp[i] = xstrdup(e);
	}
	return envp;
}

static void
free_environment(char **envp)
{
	for (char **e = envp; *e; e++)
		secret_free(*e);
	free(envp);
}

/* The settings as they are now, or NULL with the reason logged. */
static struct settings *
load_again(const struct reload_args *args, const struct settings *cur)
{
	struct settings *next = xcalloc(1, sizeof(*next));
	char **envp = environment_for_reload(cur);
	char *err = NULL;
	int r = settings_load(next, COMMAND_SERVE, args->argc, args->argv, envp, &err);
	free_environment(envp);
	if (r == 0)
		return next;
	log_warning("reload: %s; keeping the running settings",
		    err ? err : "invalid settings");
	free(err);
	settings_finish(next);
	free(next);
	return NULL;
}

/* Frees settings no thread uses any more; wipes their secrets. */
static void
drop(struct settings *s)
{
	settings_finish(s);
	free(s);
}

struct settings *
reload_apply(const struct reload_args *args, struct settings *cur,
	     struct probe_worker *worker, struct http_server *server)
{
	notify_reloading();
	struct settings *next = load_again(args, cur);
	if (!next) {
		/* A reload never stops the daemon, and a rotated token file
		 * is still worth reading. */
		if (cur->token_file)
			probe_worker_reload_token(worker);
		notify_ready(NULL);
		return cur;
	}
	settings_keep_restart(next, cur);
	/* The worker first: it is the one that may not answer. Half-applied
	 * settings (HTTP serving new thresholds over the worker's old
	 * probes) would be worse than none. */
	if (!probe_worker_reconfigure(worker, next)) {
		log_error("reload: the probe worker is not turning; keeping the"
			  " running settings (send SIGHUP again once it is)");
		drop(next);
		notify_ready(NULL);
		return cur;
	}
	log_init(next->log_format, next->log_level);
	/* Returns once no request renders with cur: it may go then. */
	http_server_reconfigure(server, next);
	log_info("reloaded the settings%s%s", next->config_file ? " from " : "",
		 next->config_file ? next->config_file : "");
	settings_log_changes(cur, next);
	settings_log(next);
	drop(cur);
	notify_ready(NULL);
	return next;
}
