# Reference numbers for the Kaplan-Meier, log-rank and RMST estimators
# (evaluation/survival/kaplan_meier.py, logrank.py, rmst.py) from R's survival package.
# Run from the repo root:  Rscript tests/reference/km/make_reference.R
# Reads children.csv and flat.csv (written by make_inputs.py), writes reference.json beside them.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

here <- "tests/reference/km"
d <- read.csv(file.path(here, "children.csv"), stringsAsFactors = FALSE)
d$cohort <- factor(d$cohort, levels = c("pre_fsp", "transition", "post_fsp"))
flat <- read.csv(file.path(here, "flat.csv"))
report_days <- c(91, 182, 365, 730)

# Every row of a survfit curve (summary with censored = TRUE: std.err is the SE of S).
curve <- function(fit) {
  s <- summary(fit, censored = TRUE)
  list(time = s$time, n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
       survival = s$surv, std_err = s$std.err, lower = s$lower, upper = s$upper)
}
km <- function(formula, data, ...) eval.parent(substitute(survfit(formula, data = data, ...)))
median_ci <- function(fit) {
  q <- quantile(fit, probs = 0.5)
  list(estimate = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper))
}
at_times <- function(fit, times) {
  s <- summary(fit, times = times)
  list(time = s$time, n_risk = s$n.risk, survival = s$surv, std_err = s$std.err,
       lower = s$lower, upper = s$upper)
}

out <- list(r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")))

# ---- Kaplan-Meier curves -------------------------------------------------------------
fits <- list(
  plain_log      = km(Surv(duration, event) ~ 1, d),
  plain_loglog   = km(Surv(duration, event) ~ 1, d, conf.type = "log-log"),
  plain_plain    = km(Surv(duration, event) ~ 1, d, conf.type = "plain"),
  entry_log      = km(Surv(entry, duration, event) ~ 1, d),
  entry_loglog   = km(Surv(entry, duration, event) ~ 1, d, conf.type = "log-log"),
  case_weights   = km(Surv(duration, event) ~ 1, d, weights = case_weight),
  entry_case_weights = km(Surv(entry, duration, event) ~ 1, d, weights = case_weight),
  # fractional weights: survfit switches to the infinitesimal-jackknife SE by default
  ipw            = km(Surv(duration, event) ~ 1, d, weights = ipw),
  entry_ipw      = km(Surv(entry, duration, event) ~ 1, d, weights = ipw),
  cluster        = km(Surv(duration, event) ~ 1, d, cluster = family_id),
  entry_cluster  = km(Surv(entry, duration, event) ~ 1, d, cluster = family_id),
  entry_ipw_cluster = km(Surv(entry, duration, event) ~ 1, d, weights = ipw, cluster = family_id),
  entry_cluster_90 = km(Surv(entry, duration, event) ~ 1, d, cluster = family_id, conf.int = 0.90)
)
out$curves <- lapply(fits, curve)
out$medians <- lapply(fits, median_ci)
out$at_report_days <- lapply(fits[c("plain_log", "entry_cluster", "ipw")], at_times, times = report_days)

by_cohort <- list()
for (level in levels(d$cohort)) {
  part <- d[d$cohort == level, ]
  f_log <- km(Surv(duration, event) ~ 1, part)
  f_entry <- km(Surv(entry, duration, event) ~ 1, part, cluster = family_id)
  by_cohort[[level]] <- list(
    n = nrow(part), events = sum(part$event),
    median = median_ci(f_log), at = at_times(f_log, report_days),
    entry_cluster_median = median_ci(f_entry), entry_cluster_at = at_times(f_entry, report_days))
}
out$by_cohort <- by_cohort

flat_fit <- km(Surv(duration, event) ~ 1, flat)
out$flat <- list(curve = curve(flat_fit), median = median_ci(flat_fit),
                 quantiles = unname(quantile(flat_fit, probs = c(0.25, 0.5, 0.6), conf.int = FALSE)))

# ---- log-rank ------------------------------------------------------------------------
logrank <- function(sd) {
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  exp <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  list(chisq = sd$chisq, df = length(sd$n) - 1, p_value = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
       n = as.vector(sd$n), observed = as.vector(obs), expected = as.vector(exp),
       variance = unname(sd$var))
}
out$survdiff <- logrank(survdiff(Surv(duration, event) ~ cohort, data = d))
out$survdiff_strata <- logrank(survdiff(Surv(duration, event) ~ cohort + strata(age_band), data = d))

score <- function(formula, ties, cluster = NULL) {
  if (!is.null(cluster)) formula <- update(formula, paste(". ~ . + cluster(", cluster, ")"))
  fit <- coxph(formula, data = d, ties = ties)
  res <- list(score = unname(fit$score), df = length(coef(fit)))
  if (!is.null(fit$rscore)) res$robust_score <- unname(fit$rscore)
  res
}
out$cox_score <- list(
  breslow = score(Surv(duration, event) ~ cohort, "breslow"),
  breslow_strata = score(Surv(duration, event) ~ cohort + strata(age_band), "breslow"),
  entry_breslow = score(Surv(entry, duration, event) ~ cohort, "breslow"),
  entry_breslow_strata = score(Surv(entry, duration, event) ~ cohort + strata(age_band), "breslow"),
  # the discrete ("exact") partial likelihood score test is the log-rank with hypergeometric variance
  exact = score(Surv(duration, event) ~ cohort, "exact"),
  entry_exact_strata = score(Surv(entry, duration, event) ~ cohort + strata(age_band), "exact"),
  # robust score test with family clusters
  entry_breslow_strata_cluster = score(Surv(entry, duration, event) ~ cohort + strata(age_band), "breslow",
                                       cluster = "family_id"),
  breslow_cluster = score(Surv(duration, event) ~ cohort, "breslow", cluster = "family_id")
)

# ---- restricted mean survival time ---------------------------------------------------
rmean_row <- function(fit, tau) {
  tab <- summary(fit, rmean = tau)$table
  list(rmean = unname(tab["rmean"]), se = unname(tab["se(rmean)"]))
}
# IJ influence of the RMST per child (weighted), for the family-clustered SE
rmst_influence <- function(fit, tau) as.vector(residuals(fit, times = tau, type = "rmst", weighted = TRUE))

rmst <- list()
for (tau in c(365, 730)) {
  key <- paste0("tau_", tau)
  per_cohort <- list()
  influence <- list(plain = numeric(nrow(d)), entry = numeric(nrow(d)))
  for (level in levels(d$cohort)) {
    who <- which(d$cohort == level)
    part <- d[who, ]
    f_plain <- km(Surv(duration, event) ~ 1, part)
    f_entry <- km(Surv(entry, duration, event) ~ 1, part)
    f_w <- km(Surv(duration, event) ~ 1, part, weights = case_weight)
    sign <- c(pre_fsp = -1, transition = 0, post_fsp = 1)[[level]]
    inf_plain <- rmst_influence(km(Surv(duration, event) ~ 1, part, influence = TRUE), tau)
    inf_entry <- rmst_influence(km(Surv(entry, duration, event) ~ 1, part, id = child_id), tau)
    influence$plain[who] <- sign * inf_plain
    influence$entry[who] <- sign * inf_entry
    fam_plain <- rowsum(inf_plain, part$family_id)
    fam_entry <- rowsum(inf_entry, part$family_id)
    per_cohort[[level]] <- list(
      plain = rmean_row(f_plain, tau), entry = rmean_row(f_entry, tau), case_weights = rmean_row(f_w, tau),
      ij_se_child = sqrt(sum(inf_plain^2)),
      ij_se_family = sqrt(sum(fam_plain^2)), entry_ij_se_family = sqrt(sum(fam_entry^2)))
  }
  diff_plain <- rowsum(influence$plain, d$family_id)
  diff_entry <- rowsum(influence$entry, d$family_id)
  rmst[[key]] <- list(
    cohorts = per_cohort,
    # post_fsp - pre_fsp, children of one family may sit in both cohorts
    difference_ij_se_family = sqrt(sum(diff_plain^2)),
    entry_difference_ij_se_family = sqrt(sum(diff_entry^2)))
}
out$rmst <- rmst
out$rmst_overall_entry_ipw <- rmean_row(km(Surv(entry, duration, event) ~ 1, d, weights = ipw), 365)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
