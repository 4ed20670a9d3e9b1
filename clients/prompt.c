/* SPDX-License-Identifier: MIT */
/*
 * prompt.c: password input for the clients. Echo is switched off with
 * termios while the password is typed, and switched back on even if the user
 * interrupts with Ctrl-C.
 */
#include "prompt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tty;
static volatile sig_atomic_t echo_off;

static void restore_echo(void)
{
    if (echo_off) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
        echo_off = 0;
    }
}

static void on_signal(int sig)
{
    restore_echo();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line of stdin without its line ending; NULL at end of input. */
static char *read_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* Prompt on stderr and read a line from the terminal on stdin without echo. */
static char *ask_silently(const char *prompt)
{
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
        struct termios quiet = saved_tty;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    char *line = read_line();
    if (echo_off) {
        restore_echo();
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    return line;
}

void lms_password_free(char *pw)
{
    if (pw != NULL)
        explicit_bzero(pw, strlen(pw));
    free(pw);
}

int lms_read_password(bool from_stdin, const char *prompt, bool confirm, char **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (from_stdin) {
        *out = read_line();
        if (*out == NULL) {
            snprintf(err, errlen, "no password on standard input");
            return LMS_PROMPT_FAILED;
        }
        return LMS_PROMPT_OK;
    }
    if (!isatty(STDIN_FILENO)) {
        snprintf(err, errlen, "no terminal to ask for the password on; use --password-stdin");
        return LMS_PROMPT_NO_TTY;
    }
    char *pw = ask_silently(prompt);
    if (pw == NULL) {
        snprintf(err, errlen, "no password given");
        return LMS_PROMPT_FAILED;
    }
    if (confirm) {
        char *again = ask_silently("Password again: ");
        bool same = again != NULL && strcmp(pw, again) == 0;
        lms_password_free(again);
        if (!same) {
            lms_password_free(pw);
            snprintf(err, errlen, "the passwords do not match");
            return LMS_PROMPT_FAILED;
        }
    }
    *out = pw;
    return LMS_PROMPT_OK;
}
