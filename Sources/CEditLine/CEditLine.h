// libedit (Debian's libedit-dev; the system's on macOS) for the `ferry>` prompt. libedit's setters
// are C variadic functions, which Swift cannot call: each one Ferry uses has a fixed-argument
// wrapper here.
#ifndef FERRY_CEDITLINE_H
#define FERRY_CEDITLINE_H

#include <histedit.h>
#include <stdio.h>
#include <wchar.h>

typedef wchar_t *(*ferry_el_prompt_function)(EditLine *);

// POSIX (XSI), declared by <wchar.h> only with _XOPEN_SOURCE.
extern int wcwidth(wchar_t);

/// Columns `character` takes on the terminal: 2 for wide ones, 0 for combining ones, -1 for
/// control characters.
static inline int ferry_character_width(wchar_t character) {
    return wcwidth(character);
}

/// An editor on the process's stdin, stdout and stderr (C globals that Swift 6 will not read).
static inline EditLine *ferry_el_init(const char *program) {
    return el_init(program, stdin, stdout, stderr);
}

/// Puts out what libedit left in stdout's buffer, before writing around it.
static inline void ferry_flush_standard_output(void) {
    fflush(stdout);
}

static inline int ferry_el_set_prompt(EditLine *el, ferry_el_prompt_function prompt) {
    return el_wset(el, EL_PROMPT, prompt);
}

static inline int ferry_el_set_editor(EditLine *el, const wchar_t *editor) {
    return el_wset(el, EL_EDITOR, editor);
}

/// 0: libedit installs no signal handlers (the command's own SIGINT/SIGTERM handling stays in charge).
static inline int ferry_el_set_signal(EditLine *el, int handle) {
    return el_wset(el, EL_SIGNAL, handle);
}

static inline int ferry_el_bind(EditLine *el, const wchar_t *key, const wchar_t *command) {
    return el_wset(el, EL_BIND, key, command, (const wchar_t *)NULL);
}

static inline int ferry_el_set_history(EditLine *el, HistoryW *history) {
    return el_wset(el, EL_HIST, history_w, history);
}

static inline int ferry_el_set_read_function(EditLine *el, el_rfunc_t function) {
    return el_wset(el, EL_GETCFN, function);
}

static inline int ferry_el_set_client_data(EditLine *el, void *data) {
    return el_wset(el, EL_CLIENTDATA, data);
}

static inline void *ferry_el_client_data(EditLine *el) {
    void *data = NULL;
    el_wget(el, EL_CLIENTDATA, &data);
    return data;
}

/// 1: the terminal in libedit's editing mode (read again from the terminal first); 0: as it was.
static inline int ferry_el_prepare_terminal(EditLine *el, int editing) {
    return el_wset(el, EL_PREP_TERM, editing);
}

/// Draws the prompt and the line being typed again, from the cursor's column 0.
static inline int ferry_el_refresh(EditLine *el) {
    return el_wset(el, EL_REFRESH);
}

static inline int ferry_history_set_size(HistoryW *history, int size) {
    HistEventW event;
    return history_w(history, &event, H_SETSIZE, size);
}

static inline int ferry_history_set_unique(HistoryW *history, int unique) {
    HistEventW event;
    return history_w(history, &event, H_SETUNIQUE, unique);
}

static inline int ferry_history_enter(HistoryW *history, const wchar_t *line) {
    HistEventW event;
    return history_w(history, &event, H_ENTER, line);
}

static inline int ferry_history_load(HistoryW *history, const char *path) {
    HistEventW event;
    return history_w(history, &event, H_LOAD, path);
}

static inline int ferry_history_save(HistoryW *history, const char *path) {
    HistEventW event;
    return history_w(history, &event, H_SAVE, path);
}

#endif
