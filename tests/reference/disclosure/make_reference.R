# Kaplan-Meier and Aalen-Johansen recomputed by R's survival package from the
# released, rounded grid counts alone (released_*_counts.csv, written by
# make_inputs.py). Each interval's events are placed at the grid time that
# ends it and its censorings just after them, as safe_curve(censor_adjustment =
# "none") assumes. Run from the repository root:
#   Rscript tests/reference/disclosure/make_reference.R
# The life-table (actuarial) version, half of each interval's censorings at
# risk (safe_curve's default), is checked against KMsurv::lifetab (Debian
# r-cran-kmsurv).
# Gray's variance of each cumulative incidence is cmprsk::cuminc's on the same rows.
suppressPackageStartupMessages({ library(survival); library(jsonlite); library(KMsurv); library(cmprsk) })
here <- "tests/reference/disclosure"

# --- Kaplan-Meier, Greenwood variance, conf.type = "log" ---------------------
km <- read.csv(file.path(here, "released_km_counts.csv"))
start <- km$n_risk[1]
rows <- km[-1, ]
time <- c(rep(rows$time, rows$n_event), rep(rows$time, rows$n_censor))
status <- c(rep(1, sum(rows$n_event)), rep(0, sum(rows$n_censor)))
# children still at risk after the last released time: censored beyond it
left <- start - length(time)
time <- c(time, rep(max(km$time) + 1, left)); status <- c(status, rep(0, left))
fit <- survfit(Surv(time, status) ~ 1, conf.type = "log")
s <- summary(fit, times = km$time, extend = TRUE)
km_out <- list(time = s$time, n_risk = s$n.risk, survival = s$surv, lower = s$lower, upper = s$upper)

# --- life table: effective risk set n - censored/2 --------------------------
lt <- lifetab(tis = km$time, ninit = km$n_risk[1], nlost = km$n_censor[-1], nevent = km$n_event[-1])
# lifetab gives survival at the start of each interval; add the end of the last one
last <- nrow(lt)
lt_surv <- c(lt$surv, lt$surv[last] * (1 - lt$nevent[last] / lt$nrisk[last]))
lt_out <- list(time = km$time, survival = lt_surv, se_first = lt$se.surv,
               effective_n_risk = lt$nrisk)

# --- Aalen-Johansen cumulative incidence from rounded cause counts -----------
cif <- read.csv(file.path(here, "released_cif_counts.csv"), stringsAsFactors = FALSE)
causes <- unique(cif$cause)
grid <- sort(unique(cif$time))
first <- cif[cif$cause == causes[1], ]
start <- first$n_risk[1]
time <- c(); state <- c()
for (k in seq_along(causes)) {
  part <- cif[cif$cause == causes[k] & cif$time > 0, ]
  time <- c(time, rep(part$time, part$n_event)); state <- c(state, rep(causes[k], sum(part$n_event)))
}
censored <- first[first$time > 0, ]
time <- c(time, rep(censored$time, censored$n_censor)); state <- c(state, rep("censor", sum(censored$n_censor)))
left <- start - length(time)
time <- c(time, rep(max(grid) + 1, left)); state <- c(state, rep("censor", left))
state <- factor(state, levels = c("censor", causes))
fit <- survfit(Surv(time, state) ~ 1)
s <- summary(fit, times = grid, extend = TRUE)
cif_out <- list(time = s$time)
for (k in seq_along(causes)) cif_out[[causes[k]]] <- s$pstate[, which(fit$states == causes[k])]
code <- match(as.character(state), causes, nomatch = 0)
gray <- timepoints(cuminc(time, code, cencode = 0), grid)
cif_variance <- list(time = grid)
for (k in seq_along(causes)) {
  cif_variance[[causes[k]]] <- unname(gray$var[paste("1", k), ])
  cif_out[[paste0(causes[k], "_cuminc")]] <- unname(gray$est[paste("1", k), ])
}

write_json(list(survival_version = as.character(packageVersion("survival")),
                kmsurv_version = as.character(packageVersion("KMsurv")),
                kaplan_meier = km_out, life_table = lt_out, cumulative_incidence = cif_out,
                cumulative_incidence_gray_variance = cif_variance,
                cmprsk_version = as.character(packageVersion("cmprsk"))),
           file.path(here, "reference.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
