# Reference numbers for evaluation/timeseries.py from R (stats::glm, MASS::glm.nb, sandwich).
#
# Run from the repo root:  Rscript tests/reference/timeseries/make_reference.R
# Reads monthly.csv (written by make_inputs.py) and writes reference.json with,
# for each local authority x series x family (poisson, negative_binomial,
# gaussian) and for the placebo (go-live 12 months earlier, pre-go-live months
# only, Poisson): coefficients, Newey-West SEs
#   sandwich::NeweyWest(fit, lag = L, prewhite = FALSE, adjust = TRUE)
# and, for the negative binomial (cp_starts only), theta. The design (trend, level, slope,
# 2 Fourier pairs, lockdown day-fractions) is built here independently.
suppressPackageStartupMessages({
  library(MASS)
  library(sandwich)
  library(jsonlite)
})

here <- "tests/reference/timeseries"
d <- read.csv(file.path(here, "monthly.csv"), stringsAsFactors = FALSE)
d$month <- as.Date(d$month)
lockdowns <- list(c("2020-03-23", "2020-06-30"), c("2021-01-05", "2021-03-08"))

month_index <- function(x) as.integer(format(x, "%Y")) * 12 + as.integer(format(x, "%m")) - 1

design <- function(month, go_live, harmonics = 2) {
  m <- month_index(month)
  since <- m - month_index(as.Date(go_live))
  post <- as.numeric(since >= 0)
  x <- data.frame(time = m - min(m), post = post, months_since_go_live = since * post)
  cal <- as.integer(format(month, "%m"))
  for (k in seq_len(harmonics)) {
    x[[paste0("sin", k)]] <- sin(2 * pi * k * cal / 12)
    x[[paste0("cos", k)]] <- cos(2 * pi * k * cal / 12)
  }
  first <- as.Date(format(month, "%Y-%m-01"))
  nxt <- seq(first[1], by = "month", length.out = length(first) + 1)[-1]
  last <- as.Date(sapply(first, function(f) seq(f, by = "month", length.out = 2)[2] - 1), origin = "1970-01-01")
  days <- as.numeric(last - first) + 1
  for (i in seq_along(lockdowns)) {
    lo <- pmax(first, as.Date(lockdowns[[i]][1]))
    hi <- pmin(last, as.Date(lockdowns[[i]][2]))
    x[[paste0("lockdown_", i)]] <- pmax(as.numeric(hi - lo) + 1, 0) / days
  }
  keep <- sapply(x, function(v) any(v != 0))
  x[, keep, drop = FALSE]
}

fit_one <- function(part, family, go_live, lag) {
  x <- design(part$month, go_live)
  data <- cbind(x, count = part$count, exposure = part$exposure)
  terms <- paste(names(x), collapse = " + ")
  theta <- NULL
  if (family == "poisson") {
    fit <- glm(as.formula(paste("count ~", terms, "+ offset(log(exposure))")), family = poisson,
               data = data, control = glm.control(epsilon = 1e-14, maxit = 100))
  } else if (family == "negative_binomial") {
    fit <- glm.nb(as.formula(paste("count ~", terms, "+ offset(log(exposure))")), data = data,
                  control = glm.control(epsilon = 1e-12, maxit = 200))
    theta <- fit$theta
  } else {
    data$rate <- data$count / data$exposure
    fit <- glm(as.formula(paste("rate ~", terms)), family = gaussian, data = data)
  }
  vc <- NeweyWest(fit, lag = lag, prewhite = FALSE, adjust = TRUE)
  list(terms = c("intercept", names(x)), coef = unname(coef(fit)), se = unname(sqrt(diag(vc))),
       vcov = unname(vc), theta = theta, lag = lag, n = nrow(data))
}

out <- list(sandwich_version = as.character(packageVersion("sandwich")),
            mass_version = as.character(packageVersion("MASS")), fits = list())
for (la in sort(unique(d$la_code))) {
  for (series in sort(unique(d$series))) {
    part <- d[d$la_code == la & d$series == series, ]
    part <- part[order(part$month), ]
    # referrals are Poisson (theta -> Inf): the negative binomial is fitted to cp_starts only
    families <- if (series == "cp_starts") c("poisson", "negative_binomial", "gaussian") else c("poisson", "gaussian")
    for (family in families) {
      key <- paste(la, series, family, sep = "|")
      out$fits[[key]] <- fit_one(part, family, "2020-11-01", 3)
    }
    pre <- part[part$month < as.Date("2020-11-01"), ]
    out$fits[[paste(la, series, "placebo_poisson", sep = "|")]] <- fit_one(pre, "poisson", "2019-11-01", 3)
    out$fits[[paste(la, series, "poisson_lag6", sep = "|")]] <- fit_one(part, "poisson", "2020-11-01", 6)
  }
}
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE, null = "null"),
      file.path(here, "reference.json"))
cat("wrote", file.path(here, "reference.json"), "\n")
