/*
 * timestamp.c - ISO-8601 <-> milliseconds, with the proleptic Gregorian
 * calendar of Howard Hinnant's days_from_civil / civil_from_days.
 */
#include "timestamp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL
#define MAX_YEAR 999999999LL /* beyond any long long of ms; overflow is checked */

/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(long long y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

struct cursor {
	const char *p, *end;
};

/* Exactly n digits; -1 otherwise. */
static int digits(struct cursor *c, int n, long long *out)
{
	long long v = 0;
	int i;

	if (c->end - c->p < n)
		return -1;
	for (i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return -1;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return 0;
}

static int take(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int parse_year(struct cursor *c, long long *year)
{
	long long v = 0;
	int sign = 0, n = 0;

	if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
		sign = *c->p++ == '-' ? -1 : 1;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 10) {
		v = v * 10 + (*c->p++ - '0');
		n++;
	}
	if (sign ? n < 6 : n != 4)
		return -1;
	if (v > MAX_YEAR || (sign < 0 && v == 0))
		return -1; /* ISO forbids "-000000" */
	*year = sign < 0 ? -v : v;
	return 0;
}

/* Hours, minutes, seconds and the fraction (truncated to ms) into *ms_of_day. */
static int parse_time(struct cursor *c, long long *ms_of_day)
{
	long long hh, mi, ss = 0, frac = 0;
	int scale = 100;

	if (digits(c, 2, &hh) < 0 || !take(c, ':') || digits(c, 2, &mi) < 0)
		return -1;
	if (take(c, ':')) {
		if (digits(c, 2, &ss) < 0)
			return -1;
		if (take(c, '.') || take(c, ',')) {
			int n = 0;

			while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
				if (scale > 0) {
					frac += (*c->p - '0') * scale;
					scale /= 10;
				}
				c->p++;
				n++;
			}
			if (n == 0)
				return -1;
		}
	}
	if (hh > 23 || mi > 59 || ss > 59)
		return -1;
	*ms_of_day = ((hh * 60 + mi) * 60 + ss) * 1000 + frac;
	return 0;
}

/* Z, ±HH, ±HHMM, ±HH:MM or nothing (UTC), into *offset_ms. */
static int parse_zone(struct cursor *c, long long *offset_ms)
{
	long long hh, mi = 0;
	int sign;

	*offset_ms = 0;
	if (c->p == c->end || take(c, 'Z') || take(c, 'z'))
		return 0;
	if (*c->p != '+' && *c->p != '-')
		return -1;
	sign = *c->p++ == '-' ? -1 : 1;
	if (digits(c, 2, &hh) < 0)
		return -1;
	if (c->p < c->end) {
		take(c, ':');
		if (digits(c, 2, &mi) < 0)
			return -1;
	}
	if (hh > 23 || mi > 59)
		return -1;
	*offset_ms = sign * (hh * 60 + mi) * 60000;
	return 0;
}

int cs_timestamp_parse(const char *s, size_t len, long long *ms)
{
	struct cursor c = { s, s + len };
	long long year, month, day, ms_of_day = 0, offset = 0;
	__int128 result; /* the last day of a range may overflow before its time brings it back */

	if (parse_year(&c, &year) < 0 || !take(&c, '-') || digits(&c, 2, &month) < 0 ||
	    !take(&c, '-') || digits(&c, 2, &day) < 0)
		return -1;
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, (int)month))
		return -1;
	if (c.p < c.end) {
		if (!take(&c, 'T') && !take(&c, 't') && !take(&c, ' '))
			return -1;
		if (parse_time(&c, &ms_of_day) < 0 || parse_zone(&c, &offset) < 0)
			return -1;
	}
	if (c.p != c.end)
		return -1;
	result = (__int128)days_from_civil(year, (int)month, (int)day) * MS_PER_DAY + ms_of_day -
		 offset;
	if (result < LLONG_MIN || result > LLONG_MAX)
		return -1;
	*ms = (long long)result;
	return 0;
}

size_t cs_timestamp_format(long long ms, char out[CS_TIMESTAMP_MAX])
{
	long long days = ms / MS_PER_DAY, rest = ms % MS_PER_DAY, year;
	int month, day, n;

	if (rest < 0) {
		rest += MS_PER_DAY;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	if (year >= 0 && year <= 9999)
		n = snprintf(out, CS_TIMESTAMP_MAX, "%04lld", year);
	else
		n = snprintf(out, CS_TIMESTAMP_MAX, "%c%06lld", year < 0 ? '-' : '+',
			     year < 0 ? -year : year);
	n += snprintf(out + n, (size_t)(CS_TIMESTAMP_MAX - n),
		      "-%02d-%02dT%02lld:%02lld:%02lld.%03lldZ", month, day, rest / 3600000,
		      rest / 60000 % 60, rest / 1000 % 60, rest % 1000);
	return (size_t)n;
}
