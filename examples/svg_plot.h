/* Tiny SVG plots for the examples: scatter panels side by side, and a line plot. Plain
 * SVG 1.1 text (opens in any browser), no dependencies. */
#ifndef TAPEGRAD_EXAMPLES_SVG_PLOT_H
#define TAPEGRAD_EXAMPLES_SVG_PLOT_H

#include <stddef.h>

typedef struct {
    const char *title;    /* above the panel */
    const float *xy;      /* n points, x then y */
    size_t n;
    const char *color;    /* CSS color of the dots */
    const char *legend;   /* legend text for this colour */
} svg_panel;

/* Panels side by side sharing one square data window (from all points, padded), each
 * with axes, ticks and a legend. Returns 0 on success, -1 when the file can't be written. */
int svg_scatter(const char *path, const svg_panel *panels, size_t n_panels);

/* y against x (n points) with axes; log_y puts y on a log10 scale (y > 0 only). */
int svg_line(const char *path, const char *title, const char *x_label, const char *y_label,
             const double *x, const double *y, size_t n, int log_y);

#endif
