# Reference for tests/test_target_trial_weights.py: inverse probability of cohort weights (IPW,
# stabilised, logistic), inverse probability of censoring weights for the planned censoring day C
# (Cox model of C on the covariates, Breslow baseline, stabilised by the share with C > s, rows
# split at a 30-day grid with survSplit), then the weighted Kaplan-Meier by cohort, the RMST as
# the area under it computed by hand (and as survfit's rmean), and the weighted Cox model with
# family-clustered robust SE.  Run: Rscript reference.R  (writes pieces.csv and results.csv)
suppressMessages(library(survival))
d <- read.csv("data.csv")
d$C <- as.numeric(d$C)                      # "inf" -> Inf
grid <- seq(30, 1500, by = 30)

ps <- glm(post ~ x1 + x2, family = binomial, data = d)
p <- fitted(ps)
share <- mean(d$post)
d$ipw <- ifelse(d$post == 1, share / p, (1 - share) / (1 - p))
d$row <- seq_len(nrow(d)) - 1               # 0-based, as the Python frame's index

planned <- d[is.finite(d$C), ]
cfit <- coxph(Surv(C, rep(1, nrow(planned))) ~ x1 + x2, data = planned, ties = "breslow")
bh <- basehaz(cfit, centered = FALSE)
H0 <- function(s) c(0, bh$hazard)[findInterval(s, bh$time) + 1]

sp <- survSplit(Surv(entry, duration, event) ~ ., data = planned, cut = grid,
                start = "tstart", end = "tstop", event = "event")
lp <- as.vector(as.matrix(sp[, c("x1", "x2")]) %*% coef(cfit))
conditional <- exp(-H0(sp$tstart) * exp(lp))
marginal <- sapply(sp$tstart, function(s) mean(planned$C > s))
sp$ipcw <- marginal / conditional
rest <- d[!is.finite(d$C), ]
rest$tstart <- rest$entry
rest$tstop <- rest$duration
rest$ipcw <- 1
cols <- c("row", "family", "post", "x1", "x2", "tstart", "tstop", "event", "ipw", "ipcw")
all <- rbind(sp[, cols], rest[, cols])
all <- all[order(all$row, all$tstart), ]
all$w <- all$ipw * all$ipcw
write.csv(all, "pieces.csv", row.names = FALSE)

fit <- survfit(Surv(tstart, tstop, event) ~ post, data = all, weights = w)
area <- function(times, surv, tau) {       # area under the step curve from 0 to tau
  knots <- c(0, times[times < tau], tau)
  heights <- c(1, surv[times < tau])
  sum(diff(knots) * heights)
}
rows <- list()
for (tau in c(365, 730)) {
  for (g in c(0, 1)) {
    s <- fit[g + 1]
    rows[[length(rows) + 1]] <- data.frame(
      quantity = "rmst", post = g, tau = tau, value = area(s$time, s$surv, tau),
      rmean = summary(s, rmean = tau)$table[["rmean"]])
  }
}
cox <- coxph(Surv(tstart, tstop, event) ~ post, data = all, weights = w, cluster = family,
             ties = "efron")
rows[[length(rows) + 1]] <- data.frame(quantity = "cox_coef", post = NA, tau = NA,
                                       value = unname(coef(cox)), rmean = NA)
rows[[length(rows) + 1]] <- data.frame(quantity = "cox_robust_se", post = NA, tau = NA,
                                       value = unname(sqrt(diag(cox$var))), rmean = NA)
rows[[length(rows) + 1]] <- data.frame(quantity = "censoring_coef", post = NA, tau = NA,
                                       value = unname(coef(cfit)), rmean = NA)
write.csv(do.call(rbind, rows), "results.csv", row.names = FALSE)
writeLines(capture.output(sessionInfo())[1:3], "session.txt")
