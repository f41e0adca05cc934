/* xml_wellformed FILE: exits 0 when FILE is a well-formed XML document with the root
 * element named by $XML_ROOT (default "svg"), 1 otherwise, naming the first problem.
 * Enough of XML 1.0 for what the examples write: a prolog, comments, elements with
 * quoted attributes, text with the five predefined entities and numeric references.
 * The tests use it so that `make check` needs no XML tool. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64, MAX_NAME = 64 };

static const char *p;
static size_t line = 1;

static int bad(const char *what)
{
    fprintf(stderr, "xml_wellformed: line %zu: %s\n", line, what);
    return 1;
}

static void skip_space(void)
{
    while (*p && isspace((unsigned char)*p))
        line += *p++ == '\n';
}

static int name(char *out)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
        return -1;
    while (isalnum((unsigned char)*p) || strchr("_:.-", *p)) {
        if (n + 1 >= MAX_NAME)
            return -1;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return 0;
}

/* An entity or character reference after '&'. */
static int reference(void)
{
    static const char *const known[] = { "amp;", "lt;", "gt;", "quot;", "apos;" };
    if (*p == '#') {
        p++;
        if (*p == 'x')
            p++;
        if (!isxdigit((unsigned char)*p))
            return -1;
        while (isxdigit((unsigned char)*p))
            p++;
        return *p++ == ';' ? 0 : -1;
    }
    for (size_t i = 0; i < 5; i++)
        if (strncmp(p, known[i], strlen(known[i])) == 0) {
            p += strlen(known[i]);
            return 0;
        }
    return -1;
}

static int attributes(void)
{
    char attr[MAX_NAME];
    for (;;) {
        skip_space();
        if (*p == '>' || *p == '/' || *p == '?')
            return 0;
        if (name(attr) != 0)
            return -1;
        skip_space();
        if (*p++ != '=')
            return -1;
        skip_space();
        const char q = *p++;
        if (q != '"' && q != '\'')
            return -1;
        while (*p && *p != q) {
            if (*p == '<')
                return -1;
            if (*p++ == '&' && reference() != 0)
                return -1;
        }
        if (*p++ != q)
            return -1;
    }
}

static int check(const char *root_name)
{
    char stack[MAX_DEPTH][MAX_NAME], tag[MAX_NAME];
    size_t depth = 0;
    int seen_root = 0;
    skip_space();
    if (strncmp(p, "<?xml", 5) == 0) {
        p += 5;
        if (attributes() != 0 || strncmp(p, "?>", 2) != 0)
            return bad("bad XML declaration");
        p += 2;
    }
    for (;;) {
        if (depth == 0)
            skip_space();
        if (!*p)
            break;
        if (strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p + 4, "-->");
            if (!end)
                return bad("unterminated comment");
            for (; p < end + 3; p++)
                line += *p == '\n';
        } else if (strncmp(p, "</", 2) == 0) {
            p += 2;
            if (name(tag) != 0 || depth == 0 || strcmp(tag, stack[depth - 1]) != 0)
                return bad("end tag does not match its start tag");
            skip_space();
            if (*p++ != '>')
                return bad("bad end tag");
            depth--;
        } else if (*p == '<') {
            p++;
            if (name(tag) != 0 || attributes() != 0)
                return bad("bad start tag or attribute");
            if (depth == 0) {
                if (seen_root++)
                    return bad("more than one root element");
                if (strcmp(tag, root_name) != 0)
                    return bad("unexpected root element");
            }
            if (*p == '/') {
                if (*++p != '>')
                    return bad("bad empty-element tag");
                p++;
            } else {
                if (*p++ != '>' || depth == MAX_DEPTH)
                    return bad("bad start tag, or nesting too deep");
                strcpy(stack[depth++], tag);
            }
        } else if (depth == 0) {
            return bad("text outside the root element");
        } else {
            const char c = *p++;
            line += c == '\n';
            if (c == '&' && reference() != 0)
                return bad("bad entity reference");
        }
    }
    if (depth != 0)
        return bad("unclosed element at end of file");
    return seen_root ? 0 : bad("no root element");
}

int main(int argc, char **argv)
{
    static char buf[64 << 20];
    FILE *f;
    size_t n;
    const char *root = getenv("XML_ROOT");
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: xml_wellformed FILE (readable)\n");
        return 2;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == sizeof buf - 1)
        return bad("file too large");
    buf[n] = '\0';
    if (strlen(buf) != n)
        return bad("NUL byte in the file");
    p = buf;
    return check(root ? root : "svg");
}
