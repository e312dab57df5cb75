# Reference numbers for the Fine-Gray scan (evaluation/survival/finegray_scan.py).
#
# Run from the repo root:  Rscript tests/reference/competing/make_scan_reference.R
# Reads scan_children.csv (written by make_scan_inputs.py) and writes scan_reference.json.
# Needs Debian r-cran-survival, r-cran-cmprsk and r-cran-jsonlite.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

here <- "tests/reference/competing"
d <- read.csv(file.path(here, "scan_children.csv"), stringsAsFactors = FALSE)
d$state <- factor(d$cause, levels = c("censored", "a", "b", "c"))
covariates <- c("x1", "x2", "x3")
out <- list(versions = list(R = R.version.string,
                            survival = as.character(packageVersion("survival")),
                            cmprsk = as.character(packageVersion("cmprsk"))),
            covariates = covariates)
X <- as.matrix(d[, covariates])
fg_formula <- reformulate(covariates, "Surv(fgstart, fgstop, fgstatus)")
fit_list <- function(fit) list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))),
                               naive_se = unname(sqrt(diag(fit$naive.var))))
for (cause in c("a", "c")) {
  res <- list()
  # crr's default gtol = 1e-6 stops short of the root; converge fully
  fit <- crr(d$duration, d$cause, X, failcode = cause, cencode = "censored", gtol = 1e-12, maxiter = 50)
  res$crr <- list(coef = unname(fit$coef), se = unname(sqrt(diag(fit$var))), converged = fit$converged)
  fg <- finegray(Surv(duration, state) ~ ., data = d[, c("id", "family", covariates, "duration", "state")],
                 etype = cause)
  res$plain_id <- fit_list(coxph(fg_formula, data = fg, weights = fgwt, cluster = id, ties = "breslow"))
  res$plain_family <- fit_list(coxph(fg_formula, data = fg, weights = fgwt, cluster = family, ties = "breslow"))
  fg <- finegray(Surv(entry, duration, state) ~ ., id = id, etype = cause,
                 data = d[, c("id", "family", covariates, "entry", "duration", "state")])
  res$entry_family <- fit_list(coxph(fg_formula, data = fg, weights = fgwt, cluster = family, ties = "breslow"))
  res$entry_family_efron <- fit_list(coxph(fg_formula, data = fg, weights = fgwt, cluster = family,
                                           ties = "efron"))
  fg <- finegray(Surv(entry, duration, state) ~ ., id = id, etype = cause, weights = case_weight,
                 data = d[, c("id", "family", covariates, "entry", "duration", "state", "case_weight")])
  res$entry_family_weighted <- fit_list(coxph(fg_formula, data = fg, weights = fgwt, cluster = family,
                                              ties = "breslow"))
  res$expanded_rows <- nrow(fg)
  out[[cause]] <- res
}
write_json(out, file.path(here, "scan_reference.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "scan_reference.json"), "\n")
