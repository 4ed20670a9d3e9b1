/* SPDX-License-Identifier: MIT */
/*
 * cli_complete.c: a CLI's bash and zsh completion scripts (cli_doc.h), and
 * the two commands: completion, which prints one, and __complete, which
 * the scripts call for what only the server knows.
 *
 * The scripts hold no knowledge of a program's commands in code: each is
 * a few generic functions plus case tables printed from the command and
 * param tables. Course codes and assignment ids come from `PROG __complete
 * courses|assignments`, which answers from the saved session within
 * CLI_COMPLETE_TIMEOUT and prints nothing at all on any failure.
 */
#include "cli_doc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- what completes a param's value --------------------------------------- */

enum value_kind { VALUE_NONE, VALUE_COURSE, VALUE_ASSIGNMENT, VALUE_FILE, VALUE_DIR, VALUE_CHOICE };

static bool is_operand(const struct cli_param *p)
{
    return (p->flags & CLI_POSITIONAL) != 0;
}

static bool named(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static enum value_kind value_kind(const struct cli_param *p)
{
    switch (p->complete) {
    case CLI_COMPLETE_NONE: return VALUE_NONE;
    case CLI_COMPLETE_COURSE: return VALUE_COURSE;
    case CLI_COMPLETE_ASSIGNMENT: return VALUE_ASSIGNMENT;
    case CLI_COMPLETE_FILE: return VALUE_FILE;
    case CLI_COMPLETE_DIR: return VALUE_DIR;
    case CLI_COMPLETE_AUTO: break;
    }
    if (p->kind == CLI_CHOICE)
        return VALUE_CHOICE;
    if (!is_operand(p) && named(p->name, "course"))
        return VALUE_COURSE;
    if ((!is_operand(p) && named(p->name, "assignment")) || named(p->name, "ASSIGNMENT_ID"))
        return VALUE_ASSIGNMENT;
    const char *word = is_operand(p) ? p->name : p->meta;
    if (word != NULL && strncmp(word, "FILE", 4) == 0)
        return VALUE_FILE; /* FILE, FILE.tar.gz */
    if (named(word, "DIR"))
        return VALUE_DIR;
    return VALUE_NONE;
}

/* The word the scripts use for a param's value: "course", "file",
 * "choice:a b", "any" (a value nothing completes). */
static void put_value_word(FILE *f, const struct cli_param *p)
{
    static const char *const words[] = {
        [VALUE_NONE] = "any",  [VALUE_COURSE] = "course", [VALUE_ASSIGNMENT] = "assignment",
        [VALUE_FILE] = "file", [VALUE_DIR] = "dir",
    };
    enum value_kind k = value_kind(p);
    if (k != VALUE_CHOICE) {
        fputs(words[k], f);
        return;
    }
    fputs("choice:", f); /* its words joined by commas: one shell word */
    for (const char *c = p->meta; *c; c++)
        fputc(*c == '|' ? ',' : *c, f);
}

/* ---- completion: the tables both shells share ------------------------------ */

/* "_lms_student": the script's function prefix. */
static void put_func(FILE *f, const struct cli_program *prog)
{
    fputc('_', f);
    for (const char *c = prog->name; *c; c++)
        fputc(isalnum((unsigned char)*c) ? *c : '_', f);
}

/* Does the group word (the first word of a two-word name) start name? */
static bool has_group(const char *name, const char *group, size_t len)
{
    return strncmp(name, group, len) == 0 && name[len] == ' ';
}

/* Each command's (or group's) first word once, in table order: "login logout ...". */
static void put_first_words(FILE *f, const struct cli_program *prog)
{
    bool any = false;
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        if (c->flags & CLI_HIDDEN)
            continue;
        size_t len = strcspn(c->name, " ");
        bool seen = false;
        for (const struct cli_command *d = prog->commands; d < c && !seen; d++)
            seen = !(d->flags & CLI_HIDDEN) && strncmp(d->name, c->name, len) == 0 &&
                   (d->name[len] == ' ' || d->name[len] == '\0');
        if (!seen)
            fprintf(f, "%s%.*s", any ? " " : "", (int)len, c->name);
        any = true;
    }
}

/* Does table have an option of p's long or short name? A command's own
 * option wins over a global one of the same name (cli_parse looks in the
 * command's table first): download --version N is not the global flag. */
static bool has_option(const struct cli_param *table, const struct cli_param *p)
{
    for (const struct cli_param *q = table; q != NULL && q->name != NULL; q++)
        if (!is_operand(q) && (strcmp(q->name, p->name) == 0 ||
                               (p->short_name && q->short_name == p->short_name)))
            return true;
    return false;
}

/* " --name -n" for each option of table that shadow does not hide. */
static void put_option_words(FILE *f, const struct cli_param *table,
                             const struct cli_param *shadow)
{
    for (const struct cli_param *p = table; p->name != NULL; p++) {
        if (is_operand(p) || has_option(shadow, p))
            continue;
        fprintf(f, " --%s", p->name);
        if (p->short_name)
            fprintf(f, " -%c", p->short_name);
    }
}

/* "--course) echo 'course'; return ;;" for each option of table that takes
 * a value, and "--x) return ;;" for a flag that hides a global option of
 * the name (globals: NULL when table is the globals). */
static void put_arg_cases(FILE *f, const struct cli_param *table,
                          const struct cli_param *globals, const char *indent)
{
    for (const struct cli_param *p = table; p->name != NULL; p++) {
        bool flag = p->kind == CLI_FLAG;
        if (is_operand(p) || (flag && !has_option(globals, p)))
            continue;
        fprintf(f, "%s--%s", indent, p->name);
        if (p->short_name)
            fprintf(f, "|-%c", p->short_name);
        if (!flag) {
            fputs(") echo '", f);
            put_value_word(f, p);
            fputs("'; return ;;\n", f);
        } else {
            fputs(") return ;;\n", f);
        }
    }
}

/* Does command c need a case in _F_arg? */
static bool has_arg_cases(const struct cli_command *c, const struct cli_param *globals)
{
    for (const struct cli_param *p = c->params; p->name != NULL; p++)
        if (!is_operand(p) && (p->kind != CLI_FLAG || has_option(globals, p)))
            return true;
    return false;
}

/* The helper functions, identical for bash and zsh (POSIX case syntax). */
static void put_helpers(FILE *f, const struct cli_program *prog)
{
    const struct cli_param *globals = cli_global_params();
    /* _F_arg CMD OPTION: the kind of value OPTION takes after CMD */
    put_func(f, prog);
    fputs("_arg() {\n    case $1 in\n", f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        if ((c->flags & CLI_HIDDEN) || !has_arg_cases(c, globals))
            continue;
        fprintf(f, "    '%s')\n        case $2 in\n", c->name);
        put_arg_cases(f, c->params, globals, "        ");
        fputs("        esac ;;\n", f);
    }
    fputs("    esac\n    case $2 in\n", f);
    put_arg_cases(f, globals, NULL, "    ");
    fputs("    esac\n}\n\n", f);
    /* _F_global OPTION: is it one that __complete needs to reach the server? */
    put_func(f, prog);
    fputs("_global() {\n    case $1 in\n    ", f);
    bool first = true;
    for (const struct cli_param *p = globals; p->name != NULL; p++) {
        if (named(p->name, "json") || named(p->name, "help") || named(p->name, "version"))
            continue;
        fprintf(f, "%s--%s", first ? "" : "|", p->name);
        if (p->short_name)
            fprintf(f, "|-%c", p->short_name);
        first = false;
    }
    fputs(") return 0 ;;\n    esac\n    return 1\n}\n\n", f);
    /* _F_opts CMD: every option after CMD, the global ones included */
    put_func(f, prog);
    fputs("_opts() {\n    case $1 in\n", f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        if (c->flags & CLI_HIDDEN)
            continue;
        fprintf(f, "    '%s') echo '", c->name);
        put_option_words(f, c->params, NULL);
        put_option_words(f, globals, c->params);
        fputs("' ;;\n", f);
    }
    fputs("    *) echo '", f);
    put_option_words(f, globals, NULL);
    fputs("' ;;\n    esac\n}\n\n", f);
    /* _F_operands CMD: the kinds of its operands; "+" marks one that takes the rest */
    put_func(f, prog);
    fputs("_operands() {\n    case $1 in\n", f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        if (c->flags & CLI_HIDDEN)
            continue;
        fprintf(f, "    '%s') echo '", c->name);
        bool any = false;
        for (const struct cli_param *p = c->params; p->name != NULL; p++) {
            if (!is_operand(p))
                continue;
            fputs(any ? " " : "", f);
            put_value_word(f, p);
            fputs(p->flags & CLI_REST ? "+" : "", f);
            any = true;
        }
        fputs("' ;;\n", f);
    }
    fputs("    esac\n}\n\n", f);
    /* _F_group WORD: the second words of a two-word group ("cluster-ca init") */
    put_func(f, prog);
    fputs("_group() {\n    case $1 in\n", f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        size_t len = strcspn(c->name, " ");
        if (c->name[len] != ' ' || (c->flags & CLI_HIDDEN))
            continue;
        bool seen = false;
        for (const struct cli_command *d = prog->commands; d < c && !seen; d++)
            seen = has_group(d->name, c->name, len);
        if (seen)
            continue;
        fprintf(f, "    '%.*s') echo '", (int)len, c->name);
        bool any = false;
        for (const struct cli_command *d = c; d->name != NULL; d++)
            if (has_group(d->name, c->name, len) && !(d->flags & CLI_HIDDEN)) {
                fprintf(f, "%s%s", any ? " " : "", d->name + len + 1);
                any = true;
            }
        fputs("' ;;\n", f);
    }
    fputs("    esac\n}\n\n", f);
}

/*
 * The walk over the words before the cursor, the same in both shells but
 * for where the words are: sets cmd (one or two words; empty before the
 * command), wait_sub (a group word still needs its second), n (operands
 * so far), dashdash (after "--") and g (the global options to pass on to
 * __complete). W is the array and FIRST its first index after the program.
 */
static void put_walk(FILE *f, const struct cli_program *prog, const char *w, int first)
{
    fprintf(f,
            "    for ((i = %d; i < cword; i++)); do\n"
            "        t=${%s[i]}\n"
            "        if [[ -z $dashdash && $t == -- ]]; then\n"
            "            dashdash=1\n"
            "        elif [[ -z $dashdash && $t == -?* ]]; then\n"
            "            kind=\n"
            "            [[ $t != *=* ]] && kind=$(",
            first, w);
    put_func(f, prog);
    fputs("_arg \"$cmd\" \"$t\")\n            if ", f);
    put_func(f, prog);
    fprintf(f,
            "_global \"${t%%%%=*}\"; then\n"
            "                g+=(\"$t\")\n"
            "                [[ -n $kind ]] && ((i + 1 < cword)) && g+=(\"${%s[i+1]}\")\n"
            "            fi\n"
            "            [[ -n $kind ]] && i=$((i + 1))\n"
            "        elif [[ -z $cmd ]]; then\n"
            "            cmd=$t\n"
            "            [[ -n $(",
            w);
    put_func(f, prog);
    fputs("_group \"$t\") ]] && wait_sub=1\n"
          "        elif [[ -n $wait_sub ]]; then\n"
          "            cmd=\"$cmd $t\"\n"
          "            wait_sub=\n"
          "        else\n"
          "            n=$((n + 1))\n"
          "        fi\n"
          "    done\n",
          f);
}

/* ---- bash ---------------------------------------------------------------- */

static void put_bash(FILE *f, const struct cli_program *prog)
{
    fprintf(f,
            "# bash completion for %s, generated by `%s completion bash` from the tables\n"
            "# that drive its --help (clients/cli_complete.c): do not edit. Installed as\n"
            "# share/bash-completion/completions/%s; or: source <(%s completion bash)\n\n",
            prog->name, prog->name, prog->name, prog->name);
    put_helpers(f, prog);
    /* the value of kind $1 for the word cur (the caller's locals cur and g) */
    put_func(f, prog);
    fputs("_value() {\n"
          "    local c\n"
          "    case $1 in\n"
          "    course|assignment)\n"
          "        # read line by line: a value from the server is never expanded\n"
          "        while IFS= read -r c; do\n"
          "            [[ $c == \"$cur\"* ]] && COMPREPLY+=(\"$c\")\n"
          "        done < <(\"${COMP_WORDS[0]}\" \"${g[@]}\" __complete \"$1s\" 2>/dev/null)\n"
          "        ;;\n"
          "    file) compopt -o filenames 2>/dev/null\n"
          "        mapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
          "    dir) compopt -o filenames 2>/dev/null\n"
          "        mapfile -t COMPREPLY < <(compgen -d -- \"$cur\") ;;\n"
          "    choice:*) c=${1#choice:}\n"
          "        mapfile -t COMPREPLY < <(compgen -W \"${c//,/ }\" -- \"$cur\") ;;\n"
          "    esac\n"
          "}\n\n",
          f);
    put_func(f, prog);
    fputs("() {\n"
          "    local -a w=() g=() ops=()\n"
          "    local i t j=-1 cword=0 glued= kind cmd= wait_sub= dashdash= n=0\n"
          "    COMPREPLY=()\n"
          "    # COMP_WORDBREAKS cuts host:port and --opt=value apart: glue them back\n"
          "    for ((i = 0; i <= COMP_CWORD && i < ${#COMP_WORDS[@]}; i++)); do\n"
          "        t=${COMP_WORDS[i]}\n"
          "        if ((i > 0)) && [[ $t == : || $t == = || -n $glued ]]; then\n"
          "            w[j]+=$t\n"
          "            [[ $t == : || $t == = ]] && glued=1 || glued=\n"
          "            ((i == COMP_CWORD)) && glued=1\n"
          "        else\n"
          "            w[++j]=$t\n"
          "            glued=\n"
          "        fi\n"
          "        ((i == COMP_CWORD)) && cword=$j\n"
          "    done\n"
          "    ((COMP_CWORD >= ${#COMP_WORDS[@]})) && w[++j]= && cword=$j\n"
          "    [[ -n $glued ]] && return 0 # a value with : or = in it: nothing to offer\n"
          "    local cur=${w[cword]} prev=${w[cword-1]}\n",
          f);
    put_walk(f, prog, "w", 1);
    fputs("    if ((cword > 1)) && [[ -z $dashdash && $prev == -?* && $prev != *=* ]]; then\n"
          "        kind=$(",
          f);
    put_func(f, prog);
    fputs("_arg \"$cmd\" \"$prev\")\n"
          "        if [[ -n $kind ]]; then\n"
          "            ",
          f);
    put_func(f, prog);
    fputs("_value \"$kind\"\n"
          "            return 0\n"
          "        fi\n"
          "    fi\n"
          "    if [[ -z $dashdash && $cur == -* ]]; then\n"
          "        mapfile -t COMPREPLY < <(compgen -W \"$(",
          f);
    put_func(f, prog);
    fputs("_opts \"$cmd\")\" -- \"$cur\")\n"
          "    elif [[ -z $cmd || ( $cmd == help && $n == 0 ) ]]; then\n"
          "        mapfile -t COMPREPLY < <(compgen -W '",
          f);
    put_first_words(f, prog);
    fputs(" help' -- \"$cur\")\n"
          "    elif [[ -n $wait_sub ]]; then\n"
          "        mapfile -t COMPREPLY < <(compgen -W \"$(",
          f);
    put_func(f, prog);
    fputs("_group \"$cmd\")\" -- \"$cur\")\n"
          "    elif [[ $cmd != help ]]; then\n"
          "        ops=($(",
          f);
    put_func(f, prog);
    fputs("_operands \"$cmd\"))\n"
          "        kind=\n"
          "        if ((n < ${#ops[@]})); then\n"
          "            kind=${ops[n]}\n"
          "        elif ((${#ops[@]} > 0)) && [[ ${ops[${#ops[@]}-1]} == *+ ]]; then\n"
          "            kind=${ops[${#ops[@]}-1]}\n"
          "        fi\n"
          "        [[ -n $kind ]] && ",
          f);
    put_func(f, prog);
    fputs("_value \"${kind%+}\"\n"
          "    fi\n"
          "    return 0\n"
          "}\n\n"
          "complete -F ",
          f);
    put_func(f, prog);
    fprintf(f, " %s\n", prog->name);
}

/* ---- zsh ----------------------------------------------------------------- */

/* s inside a single-quoted shell word. */
static void put_squoted(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
}

static void put_zsh(FILE *f, const struct cli_program *prog)
{
    fprintf(f,
            "#compdef %s\n"
            "# zsh completion for %s, generated by `%s completion zsh` from the tables\n"
            "# that drive its --help (clients/cli_complete.c): do not edit. Installed as _%s\n"
            "# in a directory of $fpath (share/zsh/vendor-completions).\n\n",
            prog->name, prog->name, prog->name, prog->name);
    put_helpers(f, prog);
    put_func(f, prog);
    fputs("_value() {\n"
          "    local -a v\n"
          "    case $1 in\n"
          "    course|assignment)\n"
          "        v=(${(f)\"$(\"${words[1]}\" \"${g[@]}\" __complete \"$1s\" 2>/dev/null)\"})\n"
          "        compadd -a v ;;\n"
          "    file) _files ;;\n"
          "    dir) _files -/ ;;\n"
          "    choice:*) v=(${(s:,:)${1#choice:}}); compadd -a v ;;\n"
          "    esac\n"
          "}\n\n",
          f);
    put_func(f, prog);
    fputs("_main() {\n"
          "    local -a g ops cmds\n"
          "    local i t kind cmd= wait_sub= dashdash= n=0 cword=$CURRENT\n"
          "    local cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n",
          f);
    put_walk(f, prog, "words", 2);
    fputs("    if ((cword > 2)) && [[ -z $dashdash && $prev == -?* && $prev != *=* ]]; then\n"
          "        kind=$(",
          f);
    put_func(f, prog);
    fputs("_arg \"$cmd\" \"$prev\")\n"
          "        if [[ -n $kind ]]; then\n"
          "            ",
          f);
    put_func(f, prog);
    fputs("_value \"$kind\"\n"
          "            return\n"
          "        fi\n"
          "    fi\n"
          "    if [[ -z $dashdash && $cur == -* ]]; then\n"
          "        compadd -- ${=$(",
          f);
    put_func(f, prog);
    fputs("_opts \"$cmd\")}\n"
          "    elif [[ -z $cmd || ( $cmd == help && $n == 0 ) ]]; then\n"
          "        cmds=(\n",
          f);
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        if ((c->flags & CLI_HIDDEN) || strchr(c->name, ' '))
            continue;
        fprintf(f, "            '%s:", c->name);
        put_squoted(f, c->summary);
        fputs("'\n", f);
    }
    fputs("            'help:show the commands, or the arguments of one'\n"
          "        )\n"
          "        _describe command cmds\n",
          f);
    /* groups: their first word, described by their members */
    fputs("        compadd -- ${=$(", f);
    put_func(f, prog);
    fputs("_groups)}\n"
          "    elif [[ -n $wait_sub ]]; then\n"
          "        compadd -- ${=$(",
          f);
    put_func(f, prog);
    fputs("_group \"$cmd\")}\n"
          "    elif [[ $cmd != help ]]; then\n"
          "        ops=(${=$(",
          f);
    put_func(f, prog);
    fputs("_operands \"$cmd\")})\n"
          "        kind=\n"
          "        if ((n < $#ops)); then\n"
          "            kind=${ops[n+1]}\n"
          "        elif (($#ops > 0)) && [[ ${ops[-1]} == *+ ]]; then\n"
          "            kind=${ops[-1]}\n"
          "        fi\n"
          "        [[ -n $kind ]] && ",
          f);
    put_func(f, prog);
    fputs("_value \"${kind%+}\"\n"
          "    fi\n"
          "}\n\n",
          f);
    put_func(f, prog);
    fputs("_groups() {\n    echo '", f);
    bool any = false;
    for (const struct cli_command *c = prog->commands; c->name != NULL; c++) {
        size_t len = strcspn(c->name, " ");
        if (c->name[len] != ' ' || (c->flags & CLI_HIDDEN))
            continue;
        bool seen = false;
        for (const struct cli_command *d = prog->commands; d < c && !seen; d++)
            seen = has_group(d->name, c->name, len);
        if (!seen)
            fprintf(f, "%s%.*s", any ? " " : "", (int)len, c->name);
        any = true;
    }
    fputs("'\n}\n\n", f);
    put_func(f, prog);
    fputs("_main \"$@\"\n", f);
}

int cli_doc_completion(FILE *f, const struct cli_program *prog, const char *shell)
{
    if (strcmp(shell, "bash") == 0)
        put_bash(f, prog);
    else if (strcmp(shell, "zsh") == 0)
        put_zsh(f, prog);
    else
        return -1;
    return 0;
}

/* ---- the commands -------------------------------------------------------- */

const struct cli_param cli_completion_params[] = {
    {.name = "SHELL", .meta = "bash|zsh", .kind = CLI_CHOICE,
     .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the shell: bash (source the output, or install it as "
             "share/bash-completion/completions/PROG) or zsh (install it as _PROG in $fpath)"},
    CLI_END_PARAMS,
};

int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (cli_doc_completion(stdout, ctx->prog, cli_str(a, "SHELL")) < 0)
        return cli_usage_error(ctx, "no completion for shell '%s' (expected bash or zsh)",
                               cli_str(a, "SHELL"));
    return LMS_EXIT_OK;
}

const struct cli_param cli_complete_params[] = {
    {.name = "WHAT", .meta = "courses|assignments", .kind = CLI_CHOICE,
     .flags = CLI_POSITIONAL | CLI_REQUIRED, .help = "what to list"},
    CLI_END_PARAMS,
};

/* A value a shell may take as is: letters, digits and ._- only, so that
 * nothing the server sends can reach a shell as syntax. */
static bool shell_safe(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

static void print_values(const Lms__Response *resp, const char *what)
{
    if (strcmp(what, "courses") == 0) {
        const Lms__CoursesResponse *cr = resp->courses;
        for (size_t i = 0; i < cr->n_courses; i++)
            if (shell_safe(cr->courses[i]->code))
                printf("%s\n", cr->courses[i]->code);
        return;
    }
    const Lms__AssignmentsResponse *ar = resp->assignments;
    for (size_t i = 0; i < ar->n_assignments; i++)
        printf("%llu\n", (unsigned long long)ar->assignments[i]->id);
}

/* __complete WHAT: the values from the saved session's servers, one per
 * line; on any failure nothing on stdout or stderr, and exit non-zero. A
 * CLI_LOCAL command, so that the frame reports nothing before it runs. */
int cli_cmd_complete(struct cli_ctx *ctx, const struct cli_args *a)
{
    if (freopen("/dev/null", "w", stderr) == NULL)
        return LMS_EXIT_FAILED;
    ctx->json = false;
    /* lmsclient.h: how long a call retries; the first connect is bounded */
    setenv("LMS_CLIENT_TIMEOUT", CLI_COMPLETE_TIMEOUT, 1);
    unsetenv("LMS_CLIENT_DEBUG");
    char err[512], *dir = lms_session_dir(ctx->home);
    free(ctx->home);
    ctx->home = dir;
    if (dir == NULL || lms_session_load(dir, &ctx->session, err, sizeof err) != 0)
        return LMS_EXIT_AUTH;
    ctx->logged_in = true;
    const char *what = cli_str(a, "WHAT");
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__ListCoursesRequest courses = LMS__LIST_COURSES_REQUEST__INIT;
    Lms__ListAssignmentsRequest assignments = LMS__LIST_ASSIGNMENTS_REQUEST__INIT;
    Lms__Response__BodyCase want = LMS__RESPONSE__BODY_COURSES;
    if (strcmp(what, "courses") == 0) {
        req.body_case = LMS__REQUEST__BODY_LIST_COURSES;
        req.list_courses = &courses;
    } else {
        req.body_case = LMS__REQUEST__BODY_LIST_ASSIGNMENTS;
        req.list_assignments = &assignments;
        want = LMS__RESPONSE__BODY_ASSIGNMENTS;
    }
    Lms__Response *resp;
    int rc = cli_call(ctx, &req, want, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    print_values(resp, what);
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}
