# Reference numbers for the case-weighted multi-state Aalen-Johansen (weights = column) in
# evaluation/survival/multistate.py, from R's survival package.
#
# Run from the repo root:  Rscript tests/reference/multistate_weighted/make_reference.R
# Reads tests/reference/multistate/intervals.csv, adds two weight columns and writes them to
# intervals_weighted.csv (what the Python test reads), then reference.json:
#   * w_child: one weight per child (as inverse-probability weights are), 0.25 to 3.25;
#   * w_row:   a weight that changes from one interval to the next within a child;
# for each, survfit(Surv(tstart, tstop, to) ~ group, id = id, istate = from, weights = w,
# influence = TRUE): pstate and its IJ std.err at every time, n.risk, and
# summary(fit, rmean = tau)$table rmean and se(rmean) at tau = 365, 730.
# With case weights, survival 3.x's std.err is sqrt(sum_i (w_i U_i)^2) from the per-child
# influence U_i = fit$influence.pstate, but summary()'s se(rmean) drops the w_i
# (sqrt(sum_i A_i^2), A_i the area of U_i up to tau; checked below). The Python
# estimator keeps the weights in both, so se(rmean) is also written here computed from the
# same influence with the weights (se_rmean_weighted), next to summary()'s (se_rmean).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

here <- "tests/reference/multistate_weighted"
d <- read.csv("tests/reference/multistate/intervals.csv", stringsAsFactors = FALSE,
              colClasses = c(id = "character", cluster = "character"))
states <- c("referral", "cin_plan", "cp_plan", "care", "closed")
d <- d[order(d$id, d$tstart), ]
child <- as.integer(factor(d$id, levels = sort(unique(d$id))))
d$w_child <- 0.25 + ((child * 7) %% 13) / 4
d$w_row <- 0.5 + ((child + seq_len(nrow(d))) %% 5) / 2
write.csv(d, file.path(here, "intervals_weighted.csv"), row.names = FALSE)

fit_one <- function(data, weight) {
  data$to <- factor(data$to_state, levels = c("censored", states))
  data$from <- factor(data$from_state, levels = states)
  data$w <- data[[weight]]
  survfit(Surv(tstart, tstop, to) ~ group, data = data, id = id, istate = from, weights = w,
          influence = TRUE)
}

curves <- function(fit) {
  strata <- fit$strata
  names(strata) <- sub("^group=", "", names(strata))
  end <- cumsum(strata)
  begin <- end - strata + 1
  out <- list()
  for (k in seq_along(strata)) {
    rows <- begin[k]:end[k]
    out[[names(strata)[k]]] <- list(
      states = fit$states, time = fit$time[rows],
      pstate = unname(fit$pstate[rows, , drop = FALSE]),
      std_err = unname(fit$std.err[rows, , drop = FALSE]),
      n_risk = unname(fit$n.risk[rows, , drop = FALSE]))
  }
  out
}

rmeans <- function(fit, taus) {
  res <- list()
  for (tau in taus) {
    tab <- summary(fit, rmean = tau)$table
    res[[as.character(tau)]] <- list(row = rownames(tab), rmean = unname(tab[, "rmean"]),
                                     se_rmean = unname(tab[, "se(rmean)"]))
  }
  res
}

# se(rmean) from fit$influence.pstate of one cohort's fit, with (w_i A_i) and without (A_i) weights
rmean_se_weighted <- function(data, weight, tau) {
  data$to <- factor(data$to_state, levels = c("censored", states))
  data$from <- factor(data$from_state, levels = states)
  data$w <- data[[weight]]
  fit <- survfit(Surv(tstart, tstop, to) ~ 1, data = data, id = id, istate = from, weights = w,
                 influence = TRUE)
  u <- fit$influence.pstate                      # child x (start + times) x state
  w <- tapply(data$w, data$id, function(x) x[1])[dimnames(u)[[1]]]
  grid <- c(0, fit$time)                         # survfit0: time 0, then every time
  width <- pmax(pmin(c(grid[-1], Inf), tau) - grid, 0)
  area <- apply(u, c(1, 3), function(x) sum(x * width))
  list(weighted = unname(sqrt(colSums((as.numeric(w) * area)^2))),
       unweighted = unname(sqrt(colSums(area^2))))
}

out <- list(survival_version = as.character(packageVersion("survival")))
for (weight in c("w_child", "w_row")) {
  fit <- fit_one(d, weight)
  out[[weight]] <- list(curves = curves(fit), rmean = rmeans(fit, c(365, 730)))
}
out$w_child$se_rmean_weighted <- list()
for (tau in c(365, 730)) {
  by_group <- list()
  for (g in c("pre_fsp", "post_fsp")) {
    se <- rmean_se_weighted(d[d$group == g, ], "w_child", tau)
    tab <- summary(fit_one(d, "w_child"), rmean = tau)$table
    stopifnot(isTRUE(all.equal(se$unweighted, unname(tab[paste0("group=", g, ", ", states), "se(rmean)"]),
                               tolerance = 1e-10)))  # summary() drops the weights, as said above
    by_group[[g]] <- list(states = states, se = se$weighted)
  }
  out$w_child$se_rmean_weighted[[as.character(tau)]] <- by_group
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path(here, "reference.json"))
