# Reference numbers for evaluation/survival/competing.py and finegray.py.
#
# Run from the repo root:  Rscript tests/reference/competing/make_reference.R
# Reads children.csv (written by make_inputs.py) and writes reference.json plus
# the survival::finegray expansions (finegray_*.csv) beside this script.
# Needs Debian r-cran-survival, r-cran-cmprsk and r-cran-jsonlite.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

here <- "tests/reference/competing"
d <- read.csv(file.path(here, "children.csv"), stringsAsFactors = FALSE)
causes <- c("closure", "escalation_care", "other", "step_down")
d$state <- factor(d$cause, levels = c("censored", causes))
covariates <- c("post_fsp", "domestic_abuse", "age")
out <- list(versions = list(R = R.version.string,
                            survival = as.character(packageVersion("survival")),
                            cmprsk = as.character(packageVersion("cmprsk"))))

# --- Aalen-Johansen by multi-state survfit (infinitesimal-jackknife SE) -----
steps <- function(fit) {
  # one stratum of a multi-state survfit; columns of pstate are states
  res <- list(time = fit$time, n_risk = fit$n.risk[, 1], n_censor = fit$n.censor)
  for (k in seq_along(causes)) {
    j <- match(causes[k], fit$states)
    res[[paste0("n_event_", causes[k])]] <- fit$n.event[, j]
    res[[paste0("cif_", causes[k])]] <- fit$pstate[, j]
    res[[paste0("se_", causes[k])]] <- fit$std.err[, j]
    res[[paste0("lower_", causes[k])]] <- fit$lower[, j]
    res[[paste0("upper_", causes[k])]] <- fit$upper[, j]
  }
  res
}
out$survfit_no_entry <- steps(survfit(Surv(duration, state) ~ 1, data = d, id = id))
out$survfit_entry <- steps(survfit(Surv(entry, duration, state) ~ 1, data = d, id = id))
# survival 3.5.3 multi-state survfit ignores cluster= when id= is given (its
# influence matrix stays one row per id), so the family-clustered IJ SE is
# formed here from the per-child influence matrix summed within families.
fit <- survfit(Surv(entry, duration, state) ~ 1, data = d, id = id, influence = TRUE)
family_of_id <- d$family[match(levels(factor(d$id)), d$id)]
clustered <- fit
for (j in seq_along(fit$states)) {
  by_family <- rowsum(fit$influence.pstate[, -1, j], family_of_id)  # drop the time-0 row
  clustered$std.err[, j] <- sqrt(colSums(by_family^2))
}
limits <- survival:::survfit_confint(clustered$pstate, clustered$std.err, logse = FALSE,
                                     conf.type = "log", conf.int = 0.95)
clustered$lower <- limits$lower
clustered$upper <- limits$upper
out$survfit_entry_cluster <- steps(clustered)
# case weights (a deterministic function of id); IJ influence times the weight
d$case_weight <- 0.5 + (d$id %% 4) / 2
fit <- survfit(Surv(entry, duration, state) ~ 1, data = d, id = id, weights = case_weight)
out$survfit_entry_weighted <- steps(fit)
fit <- survfit(Surv(entry, duration, state) ~ 1, data = d, id = id, weights = case_weight, influence = TRUE)
clustered <- fit
for (j in seq_along(fit$states)) {
  by_family <- rowsum(fit$influence.pstate[, -1, j] * d$case_weight[match(levels(factor(d$id)), d$id)],
                      family_of_id)
  clustered$std.err[, j] <- sqrt(colSums(by_family^2))
}
limits <- survival:::survfit_confint(clustered$pstate, clustered$std.err, logse = FALSE,
                                     conf.type = "log", conf.int = 0.95)
clustered$lower <- limits$lower
clustered$upper <- limits$upper
out$survfit_entry_weighted_cluster <- steps(clustered)
out$survfit_entry_90 <- steps(survfit(Surv(entry, duration, state) ~ 1, data = d, id = id,
                                      conf.int = 0.90))
by_cohort <- survfit(Surv(entry, duration, state) ~ cohort, data = d, id = id)
out$survfit_entry_by_cohort <- list()
for (i in seq_along(by_cohort$strata)) {
  label <- sub("cohort=", "", names(by_cohort$strata)[i])
  out$survfit_entry_by_cohort[[label]] <- steps(by_cohort[i, ])
}

# --- cmprsk::cuminc: estimates (no entry) and Gray's test --------------------
gray_tests <- function(ci) {
  tests <- ci$Tests
  list(cause = rownames(tests), stat = unname(tests[, "stat"]),
       pv = unname(tests[, "pv"]), df = unname(tests[, "df"]))
}
ci_all <- cuminc(d$duration, d$cause, cencode = "censored")
out$cuminc_overall <- lapply(ci_all, function(x) list(time = x$time, est = x$est, var = x$var))
ci_cohort <- cuminc(d$duration, d$cause, d$cohort, cencode = "censored")
out$gray_cohort <- gray_tests(ci_cohort)
ci_strata <- cuminc(d$duration, d$cause, d$cohort, strata = d$locality, cencode = "censored")
out$gray_cohort_by_locality <- gray_tests(ci_strata)
ci_rho <- cuminc(d$duration, d$cause, d$cohort, rho = 1, cencode = "censored")
out$gray_cohort_rho1 <- gray_tests(ci_rho)
two <- d$cohort != "transition"
ci_two <- cuminc(d$duration[two], d$cause[two], d$cohort[two], cencode = "censored")
out$gray_two_cohorts <- gray_tests(ci_two)

# --- Fine-Gray: cmprsk::crr ---------------------------------------------------
# crr's default gtol = 1e-6 stops about 1e-5 short of the root; converge fully.
X <- as.matrix(d[, covariates])
out$crr <- list()
for (cause in c("step_down", "escalation_care")) {
  fit <- crr(d$duration, d$cause, X, failcode = cause, cencode = "censored", gtol = 1e-12, maxiter = 50)
  out$crr[[cause]] <- list(coef = unname(fit$coef), se = unname(sqrt(diag(fit$var))),
                           var = unname(fit$var), loglik = fit$loglik,
                           converged = fit$converged)
}

# --- Fine-Gray: survival::finegray + weighted coxph ---------------------------
fg_formula <- reformulate(covariates, "Surv(fgstart, fgstop, fgstatus)")
fg_fits <- function(fg) {
  res <- list()
  for (ties in c("breslow", "efron")) {
    fit_id <- coxph(fg_formula, data = fg, weights = fgwt, cluster = id, ties = ties)
    fit_family <- coxph(fg_formula, data = fg, weights = fgwt, cluster = family, ties = ties)
    res[[ties]] <- list(coef = unname(coef(fit_id)),
                        naive_se = unname(sqrt(diag(fit_id$naive.var))),
                        robust_se_id = unname(sqrt(diag(fit_id$var))),
                        robust_se_family = unname(sqrt(diag(fit_family$var))),
                        loglik = fit_id$loglik)
  }
  res
}
expanded_columns <- c("id", "family", covariates, "fgstart", "fgstop", "fgstatus", "fgwt")
out$finegray <- list()
for (cause in c("step_down", "escalation_care")) {
  fg <- finegray(Surv(duration, state) ~ ., data = d[, c("id", "family", covariates, "duration", "state")],
                 etype = cause)
  write.csv(fg[, expanded_columns], file.path(here, paste0("finegray_", cause, ".csv")), row.names = FALSE)
  out$finegray[[cause]] <- fg_fits(fg)
}
fg_entry <- finegray(Surv(entry, duration, state) ~ .,
                     data = d[, c("id", "family", covariates, "entry", "duration", "state")],
                     id = id, etype = "step_down")
write.csv(fg_entry[, expanded_columns], file.path(here, "finegray_entry_step_down.csv"), row.names = FALSE)
out$finegray_entry <- list(step_down = fg_fits(fg_entry))
# case weights (a deterministic function of id): finegray multiplies them into fgwt
d$fg_case_weight <- 1 + (d$id %% 3) / 2
fg_weighted <- finegray(Surv(duration, state) ~ ., weights = fg_case_weight,
                        data = d[, c("id", "family", covariates, "duration", "state", "fg_case_weight")],
                        etype = "step_down")
fit <- coxph(fg_formula, data = fg_weighted, weights = fgwt, cluster = family, ties = "breslow")
out$finegray_weighted <- list(step_down = list(coef = unname(coef(fit)), robust_se_family = unname(sqrt(diag(fit$var)))))

# --- cause-specific Cox: other exits censored ---------------------------------
cs_formula <- reformulate(covariates, "Surv(entry, duration, cause == 'step_down')")
cs <- coxph(cs_formula, data = d, cluster = family, ties = "efron")
cs_breslow <- coxph(cs_formula, data = d, cluster = family, ties = "breslow")
out$cause_specific <- list(step_down = list(
  coef = unname(coef(cs)), naive_se = unname(sqrt(diag(cs$naive.var))),
  robust_se = unname(sqrt(diag(cs$var))),
  breslow_coef = unname(coef(cs_breslow)), breslow_robust_se = unname(sqrt(diag(cs_breslow$var)))))

out$covariates <- covariates
write_json(out, file.path(here, "reference.json"), digits = NA, na = "null", auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "reference.json"), "\n")
