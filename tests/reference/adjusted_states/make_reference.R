# Reference numbers for evaluation/survival/adjusted_states.py (tests/test_weighted_states.py):
# inverse-probability-weighted and doubly robust (augmented IPW) expected days in each state,
# post_fsp vs pre_fsp, from R's survival package (and stats::glm / lm).
#
# Run from the repo root:  Rscript tests/reference/adjusted_states/make_reference.R
# Reads tests/reference/multistate/intervals.csv (341 children, one entry each), gives every
# entry two covariates that differ between the cohorts (x1 binary, x2 a count; deterministic
# from the entry's position) and writes them to entries.csv, then reference.json:
#   * propensity: glm(post ~ x1 + x2, binomial) per entry; stabilised weights
#     w = share / e (post) or (1 - share) / (1 - e) (pre), share = proportion post;
#   * ipw: survfit(Surv(tstart, tstop, to) ~ group, id = id, istate = from, weights = w), each
#     cohort's pstate integrated from 0 to tau (survfit0 adds time 0), tau = 365, 730;
#   * aipw: per cohort the infinitesimal-jackknife pseudo-observations of the days in each state,
#     rmean + n * (each id's influence.pstate of survfit(Surv(tstart, tstop, to) ~ 1, id = id,
#     istate = from, influence = TRUE) integrated from 0 to tau), lm(pseudo ~ x1 + x2) within each
#     cohort, and the augmented IPW mean of m1 - m0 + A (Y - m1) / e - (1 - A) (Y - m0) / (1 - e)
#     over all entries.
#     Not pseudo(fit, type = "sojourn"): in survival 3.5.3 its residuals (resid(type = "sojourn"))
#     disagree with the same fit's influence.pstate integrated to tau for children who re-enter a
#     state (residuals apart by up to 2.7 here, times n in the pseudo-observation: a child
#     followed past tau without censoring gets pseudo-days of -22 on a CIN plan), while the integrated influence gives days close to those
#     observed and is what se(rmean) is computed from. The discrepancy is written to reference.json
#     (sojourn_resid_max_difference) so that a later survival release can be checked.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

here <- "tests/reference/adjusted_states"
d <- read.csv("tests/reference/multistate/intervals.csv", stringsAsFactors = FALSE,
              colClasses = c(id = "character", cluster = "character"))
states <- c("referral", "cin_plan", "cp_plan", "care", "closed")
taus <- c(365, 730)
d$to <- factor(d$to_state, levels = c("censored", states))
d$from <- factor(d$from_state, levels = states)

entries <- unique(d[, c("id", "group")])
entries <- entries[order(entries$id), ]
k <- seq_len(nrow(entries))
post <- as.integer(entries$group == "post_fsp")
entries$x1 <- as.integer(((k * 7) %% 10) < ifelse(post == 1, 6, 3))
entries$x2 <- (k %% 4) + post * as.integer((k %% 3) == 0)
write.csv(entries[, c("id", "x1", "x2")], file.path(here, "entries.csv"), row.names = FALSE)

entries$post <- post
e <- fitted(glm(post ~ x1 + x2, family = binomial, data = entries))
share <- mean(post)
entries$e <- e
entries$w <- ifelse(post == 1, share / e, (1 - share) / (1 - e))
d$w <- entries$w[match(d$id, entries$id)]

area <- function(time, pstate, tau) {
  keep <- time < tau
  knots <- c(time[keep], tau)
  colSums(diff(knots) * pstate[keep, , drop = FALSE])
}

fit <- survfit(Surv(tstart, tstop, to) ~ group, data = d, id = id, istate = from, weights = w,
              conf.type = "none")
ipw <- list()
for (g in c("pre_fsp", "post_fsp")) {
  one <- survfit0(fit[paste0("group=", g), ])
  ipw[[g]] <- lapply(taus, function(tau) unname(area(one$time, one$pstate, tau)))
  names(ipw[[g]]) <- as.character(taus)
}

aipw <- list()
first_pseudo <- list()
resid_gap <- 0
for (tau in taus) {
  y <- matrix(NA_real_, nrow(entries), length(states))
  for (g in c("pre_fsp", "post_fsp")) {
    part <- d[d$group == g, ]
    one <- survfit(Surv(tstart, tstop, to) ~ 1, data = part, id = id, istate = from, conf.type = "none",
                   influence = TRUE)
    infl <- one$influence.pstate                      # id x (time 0, fit times) x state
    ids <- sort(unique(part$id))                      # survfit's order of the ids
    stopifnot(dim(infl)[1] == length(ids))
    time <- c(0, one$time)
    keep <- time < tau
    widths <- diff(c(time[keep], tau))
    auc <- apply(infl[, keep, , drop = FALSE], c(1, 3), function(v) sum(widths * v))
    rmean <- summary(one, rmean = tau)$table[, "rmean"]
    y[match(ids, entries$id), ] <- sweep(length(ids) * auc, 2, rmean, "+")
    sojourn <- resid(one, times = tau, type = "sojourn", collapse = TRUE)
    resid_gap <- max(resid_gap, max(abs(sojourn - auc)))
  }
  dr <- numeric(length(states))
  for (s in seq_along(states)) {
    frame <- cbind(entries, y = y[, s])
    m1 <- predict(lm(y ~ x1 + x2, data = frame[frame$post == 1, ]), newdata = frame)
    m0 <- predict(lm(y ~ x1 + x2, data = frame[frame$post == 0, ]), newdata = frame)
    a <- frame$post
    dr[s] <- mean(m1 - m0 + a * (y[, s] - m1) / e - (1 - a) * (y[, s] - m0) / (1 - e))
  }
  aipw[[as.character(tau)]] <- dr
  first_pseudo[[as.character(tau)]] <- list(id = entries$id[1], pseudo = y[1, ])
}

out <- list(states = states, taus = taus, propensity = unname(e), weights = unname(entries$w),
            ipw = ipw, aipw = aipw, first_pseudo = first_pseudo, sojourn_resid_max_difference = resid_gap,
            r_version = R.version.string, survival_version = as.character(packageVersion("survival")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "reference.json"))
