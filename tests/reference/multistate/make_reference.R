# Reference numbers for evaluation/survival/multistate.py from R's survival package.
#
# Run from the repo root:  Rscript tests/reference/multistate/make_reference.R
# Reads intervals.csv (written by make_inputs.py) and writes reference.json:
#   * multi-state Aalen-Johansen state occupation per cohort:
#       survfit(Surv(tstart, tstop, to) ~ group, id = id, istate = from_state)
#     -> pstate and its infinitesimal-jackknife std.err at every time;
#   * restricted mean time in state (rmean) and se(rmean) at tau = 365, 730
#     from summary(fit, rmean = tau)$table (needs influence = TRUE);
#   * the same for the whole sample (~ 1), plus IJ SEs summed within families;
#   * first passage into cp_plan or care within tau: the same fit after making
#     the target states one absorbing state "reached" (data transformed here,
#     independently of the Python code).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

here <- "tests/reference/multistate"
d <- read.csv(file.path(here, "intervals.csv"), stringsAsFactors = FALSE,
              colClasses = c(id = "character", cluster = "character"))
states <- c("referral", "cin_plan", "cp_plan", "care", "closed")

fit_one <- function(data, states, formula_rhs) {
  data$to <- factor(data$to_state, levels = c("censored", states))
  data$from <- factor(data$from_state, levels = states)
  f <- as.formula(paste("Surv(tstart, tstop, to) ~", formula_rhs))
  survfit(f, data = data, id = id, istate = from, influence = TRUE)
}

curve_list <- function(fit) {
  # one element per stratum: time, pstate, std.err, n.risk with state names
  if (is.null(fit$strata)) {
    strata <- c(all = length(fit$time))
  } else {
    strata <- fit$strata
    names(strata) <- sub("^group=", "", names(strata))
  }
  end <- cumsum(strata)
  begin <- end - strata + 1
  out <- list()
  for (k in seq_along(strata)) {
    rows <- begin[k]:end[k]
    out[[names(strata)[k]]] <- list(
      states = fit$states,
      time = fit$time[rows],
      pstate = unname(fit$pstate[rows, , drop = FALSE]),
      std_err = unname(fit$std.err[rows, , drop = FALSE]),
      n_risk = unname(fit$n.risk[rows, , drop = FALSE])
    )
  }
  out
}

rmean_list <- function(fit, taus) {
  res <- list()
  for (tau in taus) {
    tab <- summary(fit, rmean = tau)$table
    res[[as.character(tau)]] <- list(
      row = rownames(tab),
      rmean = unname(tab[, "rmean"]),
      se_rmean = unname(tab[, "se(rmean)"])
    )
  }
  res
}

taus <- c(365, 730)

fit_group <- fit_one(d, states, "group")
fit_all <- fit_one(d, states, "1")

# First passage into {cp_plan, care}: cut each journey at the first entry.
targets <- c("cp_plan", "care")
d <- d[order(d$id, d$tstart), ]
pieces <- lapply(split(d, d$id), function(x) {
  if (x$from_state[1] %in% targets) {
    # already at the most intensive level on entry: absorbed from the start
    return(data.frame(x[1, c("id", "cluster", "group", "tstart")],
                      tstop = max(x$tstop), from_state = "reached",
                      to_state = "censored"))
  }
  hit <- which(x$to_state %in% targets)
  if (length(hit)) {
    x <- x[seq_len(hit[1]), ]
    x$to_state[hit[1]] <- "reached"
  }
  x
})
reach <- do.call(rbind, pieces)
reach_states <- c("referral", "cin_plan", "closed", "reached")
fit_reach <- fit_one(reach, reach_states, "group")

# Family-clustered IJ SEs. survival 3.5 ignores `cluster =` for multi-state
# curves, so sum the per-child influence (influence = TRUE) within families here.
infl <- fit_all$influence.pstate  # child x (1 + time) x state; time 1 is the start
family <- d$cluster[match(dimnames(infl)[[1]], d$id)]
cluster_se <- sqrt(apply(infl, c(2, 3), function(u) sum(rowsum(u, family)^2)))[-1, , drop = FALSE]

out <- list(
  survival_version = as.character(packageVersion("survival")),
  by_group = list(curves = curve_list(fit_group), rmean = rmean_list(fit_group, taus)),
  overall = list(curves = curve_list(fit_all), rmean = rmean_list(fit_all, taus),
                 family_std_err = unname(cluster_se)),
  reach = list(curves = curve_list(fit_reach), rmean = rmean_list(fit_reach, taus))
)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE),
      file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
