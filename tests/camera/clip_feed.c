/*
 * clip_feed: see clip_feed.h.
 *
 * Timestamps: buffers keep the reader's running time moved by one offset
 * onto the appsrc's running time, taken when a newly attached appsrc gets
 * its first keyframe. Stamping each buffer with "now" instead would add
 * scheduling jitter, and viewers would see equal or reordered DTS.
 *
 * Loop seams: after a segment seek the demuxer starts the next loop's
 * running time at the last frame's timestamp, not one frame later (and the
 * flushing rewind used when segment seeks are not supported starts it at
 * 0), so the reader's running time is bent by "seam" to keep one frame
 * duration between loops, and appsink's ts-offset follows so that the
 * pacing does not run one frame ahead per loop.
 */
#include <stdbool.h>
#include <stdio.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include "clip_feed.h"

struct clip_feed {
	GstElement *reader;
	guint bus_watch;
	clip_feed_event_fn *cb;
	bool seeked; /* the first (flushing) segment seek is done */
	unsigned loops;

	GMutex lock;
	GstElement *appsrc; /* under lock; ref held */
	unsigned gen;	    /* under lock; bumped when appsrc changes */

	/* only the reader's streaming thread uses these */
	unsigned gen_seen;
	bool synced; /* the current appsrc has had its keyframe */
	gint64 offset, seam;
	GstClockTime last_t, last_dur;
};

static GstFlowReturn on_sample(GstAppSink *sink, gpointer data)
{
	struct clip_feed *f = data;
	GstSample *sample = gst_app_sink_pull_sample(sink);
	GstClockTime pts, dts, rt_pts, rt_dts, t;
	GstClock *clock = NULL;
	const GstSegment *seg;
	GstElement *src;
	GstBuffer *buf;
	unsigned gen;

	if (!sample)
		return GST_FLOW_EOS;
	buf = gst_sample_get_buffer(sample);
	seg = gst_sample_get_segment(sample);
	if (!buf || !seg)
		goto out_sample;
	pts = GST_BUFFER_PTS(buf);
	dts = GST_BUFFER_DTS_OR_PTS(buf);
	if (!GST_CLOCK_TIME_IS_VALID(pts))
		pts = dts;
	rt_pts = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
	rt_dts = gst_segment_to_running_time(seg, GST_FORMAT_TIME, dts);
	if (!GST_CLOCK_TIME_IS_VALID(rt_dts) || !GST_CLOCK_TIME_IS_VALID(rt_pts))
		goto out_sample;
	t = (GstClockTime)((gint64)rt_dts + f->seam);
	if (GST_CLOCK_TIME_IS_VALID(f->last_t) && t <= f->last_t) {
		f->seam += (gint64)(f->last_t + f->last_dur) - (gint64)t;
		g_object_set(sink, "ts-offset", f->seam, NULL);
		t = f->last_t + f->last_dur;
	}
	if (GST_CLOCK_TIME_IS_VALID(f->last_t))
		f->last_dur = t - f->last_t;
	f->last_t = t;

	g_mutex_lock(&f->lock);
	src = f->appsrc ? gst_object_ref(f->appsrc) : NULL;
	gen = f->gen;
	g_mutex_unlock(&f->lock);
	if (gen != f->gen_seen)
		f->synced = false;
	f->gen_seen = gen;
	if (!src)
		goto out_sample;
	clock = gst_element_get_clock(src);
	/* a media that is not PLAYING (yet, or any more) takes nothing */
	if (!clock || GST_STATE(src) != GST_STATE_PLAYING) {
		f->synced = false;
	} else if (f->synced || !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
		GstBuffer *out = gst_buffer_copy(buf);

		if (!f->synced) {
			GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(src);
			GstCaps *caps = gst_sample_get_caps(sample);

			f->offset = (gint64)now - (gint64)t;
			if (caps)
				gst_app_src_set_caps(GST_APP_SRC(src), caps);
			f->synced = true;
		}
		GST_BUFFER_DTS(out) = (GstClockTime)MAX((gint64)t + f->offset, 0);
		GST_BUFFER_PTS(out) = (GstClockTime)MAX((gint64)rt_pts + f->seam + f->offset, 0);
		gst_app_src_push_buffer(GST_APP_SRC(src), out);
	}
	if (clock)
		gst_object_unref(clock);
	gst_object_unref(src);
out_sample:
	gst_sample_unref(sample);
	return GST_FLOW_OK;
}

static void rewind_to_start(struct clip_feed *f, GstSeekFlags flush)
{
	if (!gst_element_seek(f->reader, 1.0, GST_FORMAT_TIME, flush | GST_SEEK_FLAG_SEGMENT,
			       GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE))
		f->cb("error", f->loops, "seek to the start failed");
}

static gboolean on_bus(GstBus *bus, GstMessage *msg, gpointer data)
{
	struct clip_feed *f = data;
	GError *err = NULL;
	char *dbg = NULL, *detail;

	(void)bus;
	switch (GST_MESSAGE_TYPE(msg)) {
	case GST_MESSAGE_ASYNC_DONE:
		/* prerolled: a segment seek makes the end a SEGMENT_DONE, not EOS */
		if (!f->seeked) {
			f->seeked = true;
			rewind_to_start(f, GST_SEEK_FLAG_FLUSH);
			gst_element_set_state(f->reader, GST_STATE_PLAYING);
		}
		break;
	case GST_MESSAGE_SEGMENT_DONE:
		rewind_to_start(f, 0);
		f->cb("looped", ++f->loops, NULL);
		break;
	case GST_MESSAGE_EOS: /* a demuxer without segment seeks */
		rewind_to_start(f, GST_SEEK_FLAG_FLUSH);
		f->cb("looped", ++f->loops, NULL);
		break;
	case GST_MESSAGE_ERROR:
		gst_message_parse_error(msg, &err, &dbg);
		detail = g_strdup_printf("%s (%s)", err->message, dbg ? dbg : "");
		f->cb("error", f->loops, detail);
		g_free(detail);
		g_error_free(err);
		g_free(dbg);
		break;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

struct clip_feed *clip_feed_start(const char *path, clip_feed_event_fn *cb, GError **err)
{
	GstAppSinkCallbacks callbacks = { .new_sample = on_sample };
	struct clip_feed *f = g_new0(struct clip_feed, 1);
	GstElement *file, *sink;
	GstBus *bus;

	f->cb = cb;
	f->last_t = GST_CLOCK_TIME_NONE;
	g_mutex_init(&f->lock);
	f->reader = gst_parse_launch("filesrc name=file ! parsebin ! h264parse config-interval=-1 ! "
				     "video/x-h264,stream-format=byte-stream,alignment=au ! "
				     "appsink name=sink sync=true max-buffers=8", err);
	if (!f->reader)
		goto out_free;
	if (err && *err) { /* a partial pipeline: a missing element */
		gst_object_unref(f->reader);
		goto out_free;
	}
	file = gst_bin_get_by_name(GST_BIN(f->reader), "file");
	g_object_set(file, "location", path, NULL);
	gst_object_unref(file);
	sink = gst_bin_get_by_name(GST_BIN(f->reader), "sink");
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, f, NULL);
	gst_object_unref(sink);
	bus = gst_element_get_bus(f->reader);
	f->bus_watch = gst_bus_add_watch(bus, on_bus, f);
	gst_object_unref(bus);
	if (gst_element_set_state(f->reader, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
		g_set_error(err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
			    "cannot open %s as an H.264 MP4/MKV", path);
		clip_feed_stop(f);
		return NULL;
	}
	return f;

out_free:
	g_mutex_clear(&f->lock);
	g_free(f);
	return NULL;
}

void clip_feed_attach(struct clip_feed *f, GstElement *appsrc)
{
	GstElement *old;

	g_mutex_lock(&f->lock);
	old = f->appsrc;
	f->appsrc = appsrc ? gst_object_ref(appsrc) : NULL;
	f->gen++;
	g_mutex_unlock(&f->lock);
	if (old)
		gst_object_unref(old);
}

void clip_feed_stop(struct clip_feed *f)
{
	if (!f)
		return;
	gst_element_set_state(f->reader, GST_STATE_NULL);
	g_source_remove(f->bus_watch);
	gst_object_unref(f->reader);
	clip_feed_attach(f, NULL);
	g_mutex_clear(&f->lock);
	g_free(f);
}
