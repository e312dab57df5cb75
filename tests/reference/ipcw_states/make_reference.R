# Reference numbers for the IPCW of the days in each state (evaluation/survival/adjusted_states.py,
# tests/test_weighted_states.py): expected days in each state weighted by inverse probability of
# cohort x inverse probability of censoring at a planned day C known at baseline (go-live), with
# the censoring weights varying within a child, from R's survival package.
#
# Run from the repo root:  Rscript tests/reference/ipcw_states/make_reference.R
# Data: tests/reference/multistate/intervals.csv (341 children) with the covariates x1, x2 of
# tests/reference/adjusted_states/entries.csv. Each pre_fsp entry gets a planned censoring day C
# that depends on x1 and x2 (deterministic from its position); its journey is cut there (rows
# starting on or after C dropped, a row running past C censored at C). post_fsp entries: C = Inf.
# Writes intervals.csv and entries.csv (id, x1, x2, C) of those data, then reference.json:
#   * propensity: glm(post ~ x1 + x2, binomial) per entry; stabilised weights w_cohort;
#   * censoring model: coxph(Surv(C, rep(1, n)) ~ x1 + x2, ties = "breslow") over the pre_fsp
#     entries, basehaz(centered = FALSE);
#   * each planned entry's follow-up (first tstart to last tstop) split at the 30-day grid with
#     survSplit; the piece starting on day s weighted by P(C > s) / P(C > s | x) (P(C > s) the
#     share of planned entries with C > s), as tests/reference/target_trial/reference.R;
#   * each interval of a planned entry split at the same grid (survSplit; a transition only on
#     the last piece), each piece carrying the weight of the entry's grid piece it lies in:
#     w = w_cohort x w_censoring, varying within an id;
#   * survfit(Surv(tstart, tstop, to) ~ group, id = id, istate = from, weights = w), each cohort's
#     pstate integrated from 0 to tau (survfit0 adds time 0), tau = 365, 730.
# survfit's multi-state estimator does NOT honour weights that change within an id (survival 3.5-3):
# survfitCI first joins each censored row that a subject's next row continues in the same state
# (the "extra" rows: exactly the pieces survSplit makes) into one row carrying the LATER piece's
# weight, so with id = id the earlier pieces' censoring weights are silently replaced (the gap is
# written to reference.json, survfit_id_merged_max_pstate_difference). So the reference is the
# weighted Aalen-Johansen computed here by hand from the split rows (risk set at t: rows with
# tstart < t <= tstop, each with its own weight; all transitions at t in one matrix; p0 the
# weighted state mix at the first transition), integrated from 0 to tau; it is checked (to 1e-12)
# against survfit(Surv(tstart, tstop, to) ~ group, id = piece, istate = from, weights = w) with
# one id per weight piece (an entry's rows with the same weight), which cannot merge pieces.
# Also written: the same days with the cohort weights only (the censoring weights set to 1), so
# that the test can show that the censoring weights matter on these data.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

here <- "tests/reference/ipcw_states"
states <- c("referral", "cin_plan", "cp_plan", "care", "closed")
taus <- c(365, 730)
grid_days <- 30
d <- read.csv("tests/reference/multistate/intervals.csv", stringsAsFactors = FALSE,
              colClasses = c(id = "character", cluster = "character"))
entries <- read.csv("tests/reference/adjusted_states/entries.csv", colClasses = c(id = "character"))
groups <- unique(d[, c("id", "group")])
entries$group <- groups$group[match(entries$id, groups$id)]
entries <- entries[order(entries$id), ]
k <- seq_len(nrow(entries))
post <- as.integer(entries$group == "post_fsp")
# planned censoring: earlier for x1 = 1 and for larger x2 (the uncensored late follow-up is
# then not like the cohort), spread over 150-690 days
entries$C <- ifelse(post == 1, Inf, 150 + 240 * (1 - entries$x1) + 40 * (3 - entries$x2) + ((k * 53) %% 180))

# cut the journeys at C
d$C <- entries$C[match(d$id, entries$id)]
d <- d[d$tstart < d$C, ]
past <- d$tstop > d$C
d$tstop[past] <- d$C[past]
d$to_state[past] <- "censored"
write.csv(d[, c("id", "cluster", "group", "tstart", "tstop", "from_state", "to_state")],
          file.path(here, "intervals.csv"), row.names = FALSE)
write.csv(entries[, c("id", "x1", "x2", "C")], file.path(here, "entries.csv"), row.names = FALSE)

# cohort weights
entries$post <- post
e <- fitted(glm(post ~ x1 + x2, family = binomial, data = entries))
share <- mean(post)
entries$w_cohort <- ifelse(post == 1, share / e, (1 - share) / (1 - e))

# censoring model over the entries with planned censoring (C is observed for all of them)
planned <- entries[is.finite(entries$C), ]
cfit <- coxph(Surv(C, rep(1, nrow(planned))) ~ x1 + x2, data = planned, ties = "breslow")
bh <- basehaz(cfit, centered = FALSE)
H0 <- function(s) c(0, bh$hazard)[findInterval(s, bh$time) + 1]

# each planned entry's follow-up split at the grid; its pieces' censoring weights
planned$first <- tapply(d$tstart, d$id, min)[planned$id]
planned$last <- tapply(d$tstop, d$id, max)[planned$id]
planned$status <- 0
grid <- seq(grid_days, max(d$tstop) + grid_days, by = grid_days)
follow <- survSplit(Surv(first, last, status) ~ ., data = planned, cut = grid, start = "pstart",
                    end = "pstop", event = "status")
lp <- as.vector(as.matrix(follow[, c("x1", "x2")]) %*% coef(cfit))
conditional <- exp(-H0(follow$pstart) * exp(lp))
marginal <- sapply(follow$pstart, function(s) mean(planned$C > s))
follow$w_censoring <- marginal / conditional

# the intervals of planned entries split at the same grid; each piece's weight is that of the
# entry's piece it lies in (the last piece start on or before the row's start)
d$moved <- as.integer(d$to_state != "censored")
is_planned <- is.finite(d$C)
sp <- survSplit(Surv(tstart, tstop, moved) ~ ., data = d[is_planned, ], cut = grid, start = "tstart",
                end = "tstop", event = "moved")
sp$to_state[sp$moved == 0] <- "censored"
cell <- pmax(sp$tstart %/% grid_days * grid_days, planned$first[match(sp$id, planned$id)])
key <- paste(follow$id, follow$pstart)
sp$w_censoring <- follow$w_censoring[match(paste(sp$id, cell), key)]
stopifnot(!anyNA(sp$w_censoring))
rest <- d[!is_planned, ]
rest$w_censoring <- 1
cols <- c("id", "cluster", "group", "tstart", "tstop", "from_state", "to_state", "w_censoring")
split <- rbind(sp[, cols], rest[, cols])
split <- split[order(split$id, split$tstart), ]
split$w_cohort <- entries$w_cohort[match(split$id, entries$id)]
split$w <- split$w_cohort * split$w_censoring
stopifnot(any(tapply(split$w, split$id, function(v) length(unique(v)) > 1)))   # varies within ids
split$to <- factor(split$to_state, levels = c("censored", states))
split$from <- factor(split$from_state, levels = states)

area <- function(time, pstate, tau) {
  keep <- time < tau
  knots <- c(time[keep], tau)
  colSums(diff(knots) * pstate[keep, , drop = FALSE])
}

# weighted Aalen-Johansen by hand: at each transition time t the rows at risk are those with
# tstart < t <= tstop, each counted with its own weight
by_hand <- function(part) {
  times <- sort(unique(part$tstop[part$to_state != "censored"]))
  at_first <- part$tstart < times[1] & part$tstop >= times[1]
  p <- tapply(part$w[at_first], factor(part$from_state[at_first], levels = states), sum)
  p[is.na(p)] <- 0
  p <- p / sum(p)
  out <- matrix(NA_real_, length(times), length(states))
  for (i in seq_along(times)) {
    t <- times[i]
    risk <- part$tstart < t & part$tstop >= t
    n <- tapply(part$w[risk], factor(part$from_state[risk], levels = states), sum)
    n[is.na(n)] <- 0
    move <- risk & part$tstop == t & part$to_state != "censored"
    h <- matrix(0, length(states), length(states))
    for (r in which(move)) {
      a <- match(part$from_state[r], states)
      b <- match(part$to_state[r], states)
      h[a, b] <- h[a, b] + part$w[r]
    }
    h <- sweep(h, 1, ifelse(n > 0, n, 1), "/")
    diag(h) <- -rowSums(h)
    p <- p %*% (diag(length(states)) + h)
    out[i, ] <- p
  }
  list(time = times, pstate = out)
}

days <- function(data) {
  # survfit with one id per weight piece: its rows never merge (see the header), each keeps its weight
  data$piece <- paste(data$id, data$w)
  fit <- survfit(Surv(tstart, tstop, to) ~ group, data = data, id = piece, istate = from, weights = w,
                 conf.type = "none")
  merged <- survfit(Surv(tstart, tstop, to) ~ group, data = data, id = id, istate = from, weights = w,
                    conf.type = "none")
  res <- list()
  for (g in c("pre_fsp", "post_fsp")) {
    hand <- by_hand(data[data$group == g, ])
    one <- survfit0(fit[paste0("group=", g), ])
    at <- findInterval(hand$time, one$time)
    stopifnot(isTRUE(all.equal(one$pstate[at, , drop = FALSE], hand$pstate, tolerance = 1e-12,
                               check.attributes = FALSE)))
    two <- survfit0(merged[paste0("group=", g), ])
    gap <- max(abs(two$pstate[findInterval(hand$time, two$time), , drop = FALSE] - hand$pstate))
    hand_area <- function(tau) unname(area(c(0, hand$time), rbind(c(1, rep(0, length(states) - 1)),
                                                                    hand$pstate), tau))
    stopifnot(all(data$from_state[data$group == g & data$tstart == 0] == states[1]))   # p0: all in referral
    res[[g]] <- list(days = setNames(lapply(taus, hand_area), as.character(taus)),
                     survfit_days = setNames(lapply(taus, function(tau) unname(area(one$time, one$pstate, tau))),
                                             as.character(taus)),
                     survfit_id_merged_max_pstate_difference = gap)
  }
  res
}

ipcw <- days(split)
cohort_only <- days(transform(split, w = w_cohort))
pieces <- follow[order(follow$id, follow$pstart), c("id", "pstart", "w_censoring")]
out <- list(states = states, taus = taus, grid_days = grid_days, propensity = unname(e),
            censoring_coef = unname(coef(cfit)), ipcw = ipcw, cohort_weights_only = cohort_only,
            pieces = list(id = pieces$id, start = pieces$pstart, weight = pieces$w_censoring),
            split_rows = nrow(split), r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "reference.json"))
writeLines(capture.output(sessionInfo())[1:3], file.path(here, "session.txt"))
