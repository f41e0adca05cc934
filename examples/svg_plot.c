/* Tiny SVG plots (svg_plot.h): a fixed layout, "nice" tick steps, one pass of printf. */
#include <math.h>
#include <stdio.h>
#include "svg_plot.h"

enum { PANEL = 420, MARGIN = 50, TOP = 40 };

typedef struct {
    double lo, hi;   /* data window */
} range;

/* A tick step of 1, 2 or 5 times a power of ten giving about 5 ticks over r. */
static double tick_step(range r)
{
    const double raw = (r.hi - r.lo) / 5.0;
    const double p = pow(10.0, floor(log10(raw)));
    const double m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * p;
}

/* Axis lines, ticks and labels for a panel at (ox, oy) of size w x h. */
static void axes(FILE *f, double ox, double oy, double w, double h, range rx, range ry,
                 int log_y)
{
    const double sx = tick_step(rx), sy = tick_step(ry);
    fprintf(f, "<g stroke=\"#444\" stroke-width=\"1\" fill=\"none\">"
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></g>\n",
            ox, oy, w, h);
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#444\">\n");
    for (double v = ceil(rx.lo / sx) * sx; v <= rx.hi + 1e-9 * sx; v += sx) {
        const double px = ox + (v - rx.lo) / (rx.hi - rx.lo) * w;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                px, oy + h, px, oy + h + 4, px, oy + h + 16, fabs(v) < 1e-9 * sx ? 0.0 : v);
    }
    for (double v = ceil(ry.lo / sy) * sy; v <= ry.hi + 1e-9 * sy; v += sy) {
        const double py = oy + h - (v - ry.lo) / (ry.hi - ry.lo) * h;
        const double shown = log_y ? pow(10.0, v) : (fabs(v) < 1e-9 * sy ? 0.0 : v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                ox - 4, py, ox, py, ox - 6, py + 4, shown);
    }
    fprintf(f, "</g>\n");
}

static range padded(double lo, double hi)
{
    const double pad = hi > lo ? 0.05 * (hi - lo) : 1.0;
    return (range){ lo - pad, hi + pad };
}

int svg_scatter(const char *path, const svg_panel *panels, size_t n_panels)
{
    double lo = INFINITY, hi = -INFINITY, cx, cy, half;
    range rx, ry;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    /* one square window for all panels, so shapes compare directly */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t p = 0; p < n_panels; p++)
        for (size_t i = 0; i < panels[p].n; i++) {
            const double x = panels[p].xy[2 * i], y = panels[p].xy[2 * i + 1];
            if (!isfinite(x) || !isfinite(y))
                continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (!(xlo <= xhi))
        xlo = ylo = -1.0, xhi = yhi = 1.0;
    cx = 0.5 * (xlo + xhi), cy = 0.5 * (ylo + yhi);
    half = 0.5 * fmax(xhi - xlo, yhi - ylo);
    lo = -half, hi = half;
    rx = padded(cx + lo, cx + hi);
    ry = padded(cy + lo, cy + hi);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%zu\" "
               "height=\"%d\" viewBox=\"0 0 %zu %d\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            n_panels * (PANEL + MARGIN) + 20, PANEL + TOP + MARGIN + 10,
            n_panels * (PANEL + MARGIN) + 20, PANEL + TOP + MARGIN + 10);
    for (size_t p = 0; p < n_panels; p++) {
        const double ox = MARGIN + (double)p * (PANEL + MARGIN), oy = TOP;
        fprintf(f, "<text x=\"%.1f\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\" "
                   "text-anchor=\"middle\">%s</text>\n", ox + PANEL / 2.0, panels[p].title);
        axes(f, ox, oy, PANEL, PANEL, rx, ry, 0);
        fprintf(f, "<g fill=\"%s\" fill-opacity=\"0.55\">\n", panels[p].color);
        for (size_t i = 0; i < panels[p].n; i++) {
            const double x = panels[p].xy[2 * i], y = panels[p].xy[2 * i + 1];
            if (!isfinite(x) || !isfinite(y) || x < rx.lo || x > rx.hi || y < ry.lo || y > ry.hi)
                continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\"/>\n",
                    ox + (x - rx.lo) / (rx.hi - rx.lo) * PANEL,
                    oy + PANEL - (y - ry.lo) / (ry.hi - ry.lo) * PANEL);
        }
        fprintf(f, "</g>\n<g font-family=\"sans-serif\" font-size=\"12\">"
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"150\" height=\"22\" fill=\"white\" "
                   "stroke=\"#888\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%s</text></g>\n",
                ox + 8, oy + 8, ox + 20, oy + 19, panels[p].color, ox + 30, oy + 23,
                panels[p].legend);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

int svg_line(const char *path, const char *title, const char *x_label, const char *y_label,
             const double *x, const double *y, size_t n, int log_y)
{
    const double W = 2.0 * PANEL, H = PANEL;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    range rx, ry;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const double v = log_y ? log10(y[i]) : y[i];
        if (!isfinite(v) || !isfinite(x[i]))
            continue;
        xlo = fmin(xlo, x[i]), xhi = fmax(xhi, x[i]), ylo = fmin(ylo, v), yhi = fmax(yhi, v);
    }
    if (!(xlo <= xhi))
        xlo = ylo = 0.0, xhi = yhi = 1.0;
    rx = padded(xlo, xhi);
    ry = padded(ylo, yhi);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"%.1f\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\" "
               "text-anchor=\"middle\">%s</text>\n",
            W + 2 * MARGIN + 20, H + TOP + 2 * MARGIN, W + 2 * MARGIN + 20, H + TOP + 2 * MARGIN,
            MARGIN + W / 2, title);
    axes(f, 1.5 * MARGIN, TOP, W, H, rx, ry, log_y);
    fprintf(f, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">"
               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>"
               "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
               "text-anchor=\"middle\">%s</text></g>\n",
            1.5 * MARGIN + W / 2, TOP + H + 34, x_label, TOP + H / 2, TOP + H / 2, y_label);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (size_t i = 0; i < n; i++) {
        const double v = log_y ? log10(y[i]) : y[i];
        if (!isfinite(v) || !isfinite(x[i]))
            continue;
        fprintf(f, "%.1f,%.1f ", 1.5 * MARGIN + (x[i] - rx.lo) / (rx.hi - rx.lo) * W,
                TOP + H - (v - ry.lo) / (ry.hi - ry.lo) * H);
    }
    fprintf(f, "\"/>\n</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
