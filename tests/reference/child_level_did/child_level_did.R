# Reference values for evaluation.comparison.child_level (tests/test_child_level_comparison.py).
# Run from this folder: Rscript child_level_did.R  (writes cox.csv and rmst.csv)
suppressPackageStartupMessages(library(survival))
d <- read.csv("data.csv", stringsAsFactors = FALSE)
d$period <- factor(d$period)
d$period_staggered <- factor(d$period_staggered)

tidy_fit <- function(fit, model) {
  s <- summary(fit)$coefficients
  data.frame(model = model, term = rownames(s), coef = s[, "coef"], se = s[, "se(coef)"],
             robust_se = s[, "robust se"], stringsAsFactors = FALSE)
}

# common go-live: period * adopted, each council its own baseline (adopted: NA, constant in strata)
common <- coxph(Surv(entry, duration, event) ~ period * adopted + strata(council) + cluster(family),
                data = d, ties = "efron")
# staggered go-lives: calendar periods + programme (two-way fixed effects on the hazard scale)
staggered <- coxph(Surv(entry, duration, event) ~ period_staggered + programme_staggered +
                     strata(council) + cluster(family), data = d, ties = "efron")
# the same without delayed entry, Breslow ties
breslow <- coxph(Surv(duration, event) ~ period * adopted + strata(council) + cluster(family),
                 data = d, ties = "breslow")
out <- rbind(tidy_fit(common, "common_efron"), tidy_fit(staggered, "staggered_efron"),
             tidy_fit(breslow, "common_breslow_no_entry"))
out$loglik <- c(rep(common$loglik[2], nrow(tidy_fit(common, ""))),
                rep(staggered$loglik[2], nrow(tidy_fit(staggered, ""))),
                rep(breslow$loglik[2], nrow(tidy_fit(breslow, ""))))
write.csv(out, "cox.csv", row.names = FALSE)
print(common); print(staggered)

# RMST (survfit rmean, right-censored) per council and period at tau = 365 and 730
rows <- list()
for (council in sort(unique(d$council))) for (period in levels(d$period)) for (tau in c(365, 730)) {
  sub <- d[d$council == council & d$period == period, ]
  fit <- survfit(Surv(duration, event) ~ 1, data = sub)
  tab <- summary(fit, rmean = tau)$table
  rows[[length(rows) + 1]] <- data.frame(council = council, period = period, tau = tau,
                                         rmean = unname(tab["rmean"]), se = unname(tab["se(rmean)"]))
}
write.csv(do.call(rbind, rows), "rmst.csv", row.names = FALSE)
