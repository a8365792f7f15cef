//! When a deployment stops: pure rules over a lifetime, the moment a user deployed (or extended)
//! it, and the server's clock settings (time zone, end of the working day, last working day of
//! the week). Time-zone arithmetic goes through jiff with its bundled time-zone database, so
//! daylight-saving changes are handled the same on every machine.

use app::model::Lifetime;
use chrono::{DateTime, Utc};
use jiff::{
    Timestamp, Zoned,
    civil::{Time, Weekday},
    tz::TimeZone,
};

/// The server's clock settings for "until tonight" and "until the weekend".
#[derive(Clone, Debug)]
pub struct Clock {
    pub zone: TimeZone,
    /// When a working day ends (default 23:59).
    pub end_of_day: Time,
    /// The last working day of the week (default Friday).
    pub last_working_day: Weekday,
}

impl Clock {
    /// Reads the settings: an IANA zone name (`UTC`, `Europe/Berlin`), `HH:MM`, a weekday name.
    pub fn new(zone: &str, end_of_day: &str, last_working_day: &str) -> Result<Clock, String> {
        let zone = TimeZone::get(zone).map_err(|e| format!("unknown time zone '{zone}': {e}"))?;
        let end_of_day = Time::strptime("%H:%M", end_of_day)
            .map_err(|_| format!("'{end_of_day}' is not a time of day like 23:59"))?;
        let last_working_day = weekday(last_working_day)?;
        Ok(Clock {
            zone,
            end_of_day,
            last_working_day,
        })
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            zone: TimeZone::UTC,
            end_of_day: Time::constant(23, 59, 0, 0),
            last_working_day: Weekday::Friday,
        }
    }
}

fn weekday(name: &str) -> Result<Weekday, String> {
    Ok(match name.trim().to_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        other => return Err(format!("'{other}' is not a weekday")),
    })
}

fn to_jiff(t: DateTime<Utc>) -> Timestamp {
    Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn to_chrono(z: &Zoned) -> Option<DateTime<Utc>> {
    let t = z.timestamp();
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().try_into().ok()?)
}

/// The end of the working day on `date`'s day, in the clock's zone. A time that does not exist
/// that day (a daylight-saving gap) moves forward, one that exists twice takes the first.
fn end_of(day: jiff::civil::Date, clock: &Clock) -> Option<Zoned> {
    day.to_datetime(clock.end_of_day)
        .to_zoned(clock.zone.clone())
        .ok()
}

/// The next end of a working day after `now`: today's, or tomorrow's when today's has passed.
fn tonight(now: &Zoned, clock: &Clock) -> Option<Zoned> {
    let today = end_of(now.date(), clock)?;
    if today.timestamp() > now.timestamp() {
        Some(today)
    } else {
        end_of(now.date().tomorrow().ok()?, clock)
    }
}

/// When a deployment started at `started` stops; `None`: never.
pub fn stop_at(lifetime: Lifetime, started: DateTime<Utc>, clock: &Clock) -> Option<DateTime<Utc>> {
    let now = to_jiff(started).to_zoned(clock.zone.clone());
    let end = match lifetime {
        Lifetime::Infinite => return None,
        Lifetime::At(t) => return Some(t),
        Lifetime::Hours(n) => return started.checked_add_signed(chrono::Duration::hours(i64::from(n))),
        // Calendar days in the clock's zone: the same wall-clock time n days later.
        Lifetime::Days(n) => now
            .checked_add(jiff::Span::new().try_days(i64::from(n)).ok()?)
            .ok()?,
        Lifetime::UntilTonight => tonight(&now, clock)?,
        Lifetime::UntilWeekend => {
            let mut t = tonight(&now, clock)?;
            while t.weekday() != clock.last_working_day {
                t = end_of(t.date().tomorrow().ok()?, clock)?;
            }
            t
        }
    };
    to_chrono(&end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> Clock {
        Clock::new("Europe/Berlin", "23:59", "friday").unwrap()
    }

    #[test]
    fn fixed_durations() {
        let c = Clock::default();
        let t = utc("2026-12-02T10:00:00Z");
        assert_eq!(stop_at(Lifetime::Infinite, t, &c), None);
        assert_eq!(
            stop_at(Lifetime::Hours(8), t, &c),
            Some(utc("2026-12-02T18:00:00Z"))
        );
        assert_eq!(
            stop_at(Lifetime::Days(2), t, &c),
            Some(utc("2026-12-04T10:00:00Z"))
        );
        let at = utc("2026-12-24T12:00:00Z");
        assert_eq!(stop_at(Lifetime::At(at), t, &c), Some(at));
        // Out of range (only from a hand-made request, which validation refuses): no panic.
        assert_eq!(stop_at(Lifetime::Days(u32::MAX), t, &c), None);
        assert_eq!(stop_at(Lifetime::Hours(u32::MAX), t, &c), None);
    }

    #[test]
    fn until_tonight_in_the_configured_zone() {
        let c = berlin();
        // 10:00 in Berlin (UTC+1 in winter) stops at 23:59 Berlin time.
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-12-02T09:00:00Z"), &c),
            Some(utc("2026-12-02T22:59:00Z"))
        );
        // Deployed after the end of the day: tomorrow night.
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-12-02T23:30:00Z"), &c),
            Some(utc("2026-12-03T22:59:00Z"))
        );
        // A working day ending at 18:00.
        let c = Clock::new("Europe/Berlin", "18:00", "friday").unwrap();
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-12-02T17:30:00Z"), &c),
            Some(utc("2026-12-03T17:00:00Z")),
            "18:30 local is after the end of the day"
        );
    }

    #[test]
    fn until_the_weekend() {
        let c = berlin();
        // Wednesday → Friday night.
        assert_eq!(
            stop_at(Lifetime::UntilWeekend, utc("2026-12-02T09:00:00Z"), &c),
            Some(utc("2026-12-04T22:59:00Z"))
        );
        // Friday morning → that Friday night (the original waited a week: a defect).
        assert_eq!(
            stop_at(Lifetime::UntilWeekend, utc("2026-12-04T08:00:00Z"), &c),
            Some(utc("2026-12-04T22:59:00Z"))
        );
        // Saturday → next Friday.
        assert_eq!(
            stop_at(Lifetime::UntilWeekend, utc("2026-12-05T12:00:00Z"), &c),
            Some(utc("2026-12-11T22:59:00Z"))
        );
        // Another last working day.
        let c = Clock::new("UTC", "23:59", "thursday").unwrap();
        assert_eq!(
            stop_at(Lifetime::UntilWeekend, utc("2026-12-04T08:00:00Z"), &c),
            Some(utc("2026-12-10T23:59:00Z"))
        );
    }

    #[test]
    fn daylight_saving_edges() {
        let c = berlin();
        // Days count in local calendar days: across the spring change (29 March 2026) one day is
        // 23 hours, across the autumn change (25 October 2026) 25 hours.
        assert_eq!(
            stop_at(Lifetime::Days(1), utc("2026-03-28T11:00:00Z"), &c),
            Some(utc("2026-03-29T10:00:00Z"))
        );
        assert_eq!(
            stop_at(Lifetime::Days(1), utc("2026-10-24T10:00:00Z"), &c),
            Some(utc("2026-10-25T11:00:00Z"))
        );
        // Hours are hours, whatever the wall clock does.
        assert_eq!(
            stop_at(Lifetime::Hours(24), utc("2026-03-28T11:00:00Z"), &c),
            Some(utc("2026-03-29T11:00:00Z"))
        );
        // "Tonight" on the day the clocks go forward is 23:59 summer time (UTC+2).
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-03-29T08:00:00Z"), &c),
            Some(utc("2026-03-29T21:59:00Z"))
        );
        // An end of day inside the gap (02:30 does not exist on 29 March) moves forward.
        let c = Clock::new("Europe/Berlin", "02:30", "friday").unwrap();
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-03-28T23:30:00Z"), &c),
            Some(utc("2026-03-29T01:30:00Z")),
            "03:30 summer time"
        );
        // One that exists twice (02:30 on 25 October) is the first.
        assert_eq!(
            stop_at(Lifetime::UntilTonight, utc("2026-10-24T23:00:00Z"), &c),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        let _ = Utc.timestamp_opt(0, 0);
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(
            Clock::new("Mars/Olympus", "23:59", "friday")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
        assert!(
            Clock::new("UTC", "25:00", "friday")
                .unwrap_err()
                .contains("25:00")
        );
        assert!(
            Clock::new("UTC", "23:59", "funday")
                .unwrap_err()
                .contains("funday")
        );
    }
}
