// OpenBLAS: CBLAS for every matrix product, its threading controls, and the LAPACK symmetric
// eigensolver (Fortran symbols shipped inside libopenblas) used for matrix square roots.
#ifndef EMD_COPENBLAS_SHIM_H
#define EMD_COPENBLAS_SHIM_H
#include <cblas.h>

void ssyev_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda,
            float *w, float *work, const int *lwork, int *info);
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
            double *w, double *work, const int *lwork, int *info);
#endif
