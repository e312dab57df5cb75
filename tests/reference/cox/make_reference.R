# Reference numbers for evaluation/survival/{cox,zph,differential,weighting}.py from R `survival`.
# Run from the repo root:  Rscript tests/reference/cox/make_reference.R
# Inputs: children.csv and rossi.csv (written by make_inputs.py). Output: reference.json beside this file.
# Convergence is tightened (eps = 1e-11) so that the reference is the maximiser itself rather than
# R's default stopping point (eps = 1e-9); the Python tests compare coefficients to 1e-6 relative.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
here <- "tests/reference/cox"
ctl <- coxph.control(eps = 1e-11, iter.max = 50, toler.inf = sqrt(1e-9))

children <- read.csv(file.path(here, "children.csv"), stringsAsFactors = FALSE)
rossi <- read.csv(file.path(here, "rossi.csv"))
children$post <- as.numeric(children$cohort == "post_fsp")
combos <- c("none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "DA+MH+SM")
children$comb <- factor(children$combination, levels = combos)

summarise_fit <- function(fit) {
  robust <- !is.null(fit$naive.var)
  naive <- if (robust) fit$naive.var else fit$var
  list(
    coef = unname(coef(fit)),
    se_naive = unname(sqrt(diag(naive))),
    se_robust = if (robust) unname(sqrt(diag(fit$var))) else NULL,
    robust = robust,
    var = unname(fit$var),
    var_naive = unname(naive),
    loglik = unname(fit$loglik),
    score_test = unname(fit$score),
    robust_score_test = if (robust) unname(fit$rscore) else NULL,
    lr_test = unname(2 * diff(fit$loglik)),
    wald_test = unname(fit$wald.test),
    n = fit$n,
    events = fit$nevent
  )
}

out <- list()

# 1. Rossi (domain.md section 3)
rf <- Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio
out$rossi <- list(
  efron = summarise_fit(coxph(rf, data = rossi, ties = "efron", control = ctl)),
  breslow = summarise_fit(coxph(rf, data = rossi, ties = "breslow", control = ctl))
)

# 2. Model grid on the synthetic children: entry / strata / cluster / weights, Efron and Breslow
covs <- "post + age + female + da + mh + sm"
specs <- list(
  plain = list(lhs = "Surv(duration, event)", strata = FALSE, cluster = FALSE, weights = FALSE),
  weights = list(lhs = "Surv(duration, event)", strata = FALSE, cluster = FALSE, weights = TRUE),
  cluster = list(lhs = "Surv(duration, event)", strata = FALSE, cluster = TRUE, weights = FALSE),
  entry = list(lhs = "Surv(entry, duration, event)", strata = FALSE, cluster = FALSE, weights = FALSE),
  entry_strata = list(lhs = "Surv(entry, duration, event)", strata = TRUE, cluster = FALSE, weights = FALSE),
  entry_cluster = list(lhs = "Surv(entry, duration, event)", strata = FALSE, cluster = TRUE, weights = FALSE),
  entry_strata_cluster = list(lhs = "Surv(entry, duration, event)", strata = TRUE, cluster = TRUE, weights = FALSE),
  entry_strata_cluster_weights = list(lhs = "Surv(entry, duration, event)", strata = TRUE, cluster = TRUE, weights = TRUE)
)
fit_spec <- function(s, ties) {
  f <- as.formula(paste(s$lhs, "~", covs, if (s$strata) "+ strata(area)" else ""))
  args <- list(formula = f, data = children, ties = ties, control = ctl)
  if (s$cluster) args$cluster <- quote(family_id)
  if (s$weights) args$weights <- quote(weight)
  do.call(coxph, args)
}
out$models <- list()
fits <- list()
for (nm in names(specs)) {
  for (ties in c("efron", "breslow")) {
    key <- paste(nm, ties, sep = "_")
    fits[[key]] <- fit_spec(specs[[nm]], ties)
    out$models[[key]] <- c(specs[[nm]], list(ties = ties), summarise_fit(fits[[key]]))
  }
}

# 3. Monotone likelihood: an indicator of a cell with no events. R warns that the
#    coefficient may be infinite; the other coefficients tend to those of the fit without that cell.
children$sparse_post <- as.numeric(children$combination == "DA+MH+SM" & children$post == 1)
mono <- withCallingHandlers(
  coxph(Surv(entry, duration, event) ~ sparse_post + age + female, data = children, control = ctl),
  warning = function(w) invokeRestart("muffleWarning"))
without <- coxph(Surv(entry, duration, event) ~ age + female, data = children,
                 subset = sparse_post == 0, control = ctl)
out$monotone <- list(coef = unname(coef(mono)), limit_other_coef = unname(coef(without)))

# 4. cox.zph (survival >= 3.0 score-test form)
zph_table <- function(z) list(term = rownames(z$table), chisq = unname(z$table[, "chisq"]),
                              df = unname(z$table[, "df"]), p = unname(z$table[, "p"]))
out$zph <- list()
for (key in c("plain_efron", "plain_breslow", "entry_strata_efron", "entry_strata_cluster_weights_efron",
              "entry_strata_cluster_weights_breslow")) {
  for (tr in c("km", "rank", "identity", "log")) {
    out$zph[[paste(key, tr, sep = "_")]] <- zph_table(cox.zph(fits[[key]], transform = tr))
  }
}
# a multi-column term (combination factor, 7 df) with terms = TRUE and terms = FALSE
fz <- coxph(Surv(entry, duration, event) ~ post + age + comb + strata(area), data = children, control = ctl)
out$zph$factor_terms <- zph_table(cox.zph(fz, transform = "km", terms = TRUE))
out$zph$factor_columns <- zph_table(cox.zph(fz, transform = "km", terms = FALSE))

# 5. Differential impact: post x combination, family-clustered; the sparse combination is left out
dsub <- subset(children, combination != "DA+MH+SM")
dsub$comb <- droplevels(dsub$comb)
fi <- coxph(Surv(entry, duration, event) ~ post * comb + age + female, data = dsub,
            cluster = family_id, control = ctl)
b <- coef(fi); V <- vcov(fi)
lev <- levels(dsub$comb)
L <- t(sapply(lev, function(l) {
  v <- setNames(rep(0, length(b)), names(b))
  v["post"] <- 1
  if (l != lev[1]) v[paste0("post:comb", l)] <- 1
  v
}))
est <- drop(L %*% b); se <- sqrt(diag(L %*% V %*% t(L)))
z <- est / se; p <- 2 * pnorm(-abs(z))
inter <- grep("^post:comb", names(b))
het <- drop(t(b[inter]) %*% solve(V[inter, inter]) %*% b[inter])
out$differential <- list(
  combination = lev, log_hr = unname(est), se = unname(se),
  hr = unname(exp(est)), lower = unname(exp(est - qnorm(0.975) * se)), upper = unname(exp(est + qnorm(0.975) * se)),
  z = unname(z), p = unname(p), p_holm = unname(p.adjust(p, "holm")),
  heterogeneity_chisq = het, heterogeneity_df = length(inter),
  heterogeneity_p = pchisq(het, length(inter), lower.tail = FALSE),
  events_by_cell = as.data.frame.matrix(with(children, tapply(event, list(combination, cohort), sum)))
)

# 6. Inverse probability of cohort weighting (ATE), stabilised and not, then a weighted Cox model
ps_fit <- glm(post ~ age + female + da + mh + sm, family = binomial, data = children)
ps <- fitted(ps_fit)
pm <- mean(children$post)
w_unstab <- ifelse(children$post == 1, 1 / ps, 1 / (1 - ps))
w_stab <- ifelse(children$post == 1, pm / ps, (1 - pm) / (1 - ps))
smd <- function(x, t, w) {
  m1 <- weighted.mean(x[t == 1], w[t == 1]); m0 <- weighted.mean(x[t == 0], w[t == 0])
  (m1 - m0) / sqrt((var(x[t == 1]) + var(x[t == 0])) / 2)
}
bal_vars <- c("age", "female", "da", "mh", "sm")
children$w_stab <- w_stab
wc <- coxph(Surv(entry, duration, event) ~ post, data = children, weights = w_stab,
            cluster = family_id, control = ctl)
wc_nocl <- coxph(Surv(entry, duration, event) ~ post, data = children, weights = w_stab, control = ctl)
out$weighting <- list(
  ps_coef = unname(coef(ps_fit)), propensity = unname(ps),
  weight_stabilised = unname(w_stab), weight_unstabilised = unname(w_unstab),
  balance = list(variable = bal_vars,
                 smd_before = unname(sapply(bal_vars, function(v) smd(children[[v]], children$post, rep(1, nrow(children))))),
                 smd_after = unname(sapply(bal_vars, function(v) smd(children[[v]], children$post, w_stab)))),
  cox_cluster = summarise_fit(wc),
  cox_no_cluster = summarise_fit(wc_nocl)
)

out$r_version <- R.version.string
out$survival_version <- as.character(packageVersion("survival"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = FALSE),
           file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
