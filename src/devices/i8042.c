/* SPDX-License-Identifier: MIT */
/* i8042.c: PS/2 controller emulation: controller commands, an empty keyboard
 * port, no aux port, and the reset line. */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Status register (read at 0x64). */
#define STR_OBF		0x01	/* output buffer full */
#define STR_SYS		0x04	/* system flag, mirrors CTR_SYS */
#define STR_CMD		0x08	/* last write went to 0x64 */
#define STR_KEYLOCK	0x10	/* 1: keyboard not inhibited */
#define STR_AUXDATA	0x20	/* the output byte comes from the aux side */
/* IBF (0x02) is always 0: we consume every write at once. */

/* Controller command byte (CTR, controller RAM byte 0). */
#define CTR_KBDINT	0x01
#define CTR_AUXINT	0x02
#define CTR_SYS		0x04
#define CTR_KBDDIS	0x10
#define CTR_AUXDIS	0x20
#define CTR_XLATE	0x40
#define CTR_RESERVED	0x80
#define CTR_POWER_ON	(CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE)

#define OUTPORT_RESET	0x01	/* 0 pulls the CPU reset line */
#define OUTPORT_POWER_ON 0x03	/* reset line high, A20 enabled */

#define RAM_SIZE	32
#define QUEUE_MAX	8	/* below Linux's 16-byte flush limit */

#define KBD_NAK		0xfe

struct i8042 {
	pthread_mutex_t lock;
	struct vm_requester req;
	struct irq_line irq;
	int irq_level;		/* -1: not driven yet */

	uint8_t ram[RAM_SIZE];	/* ram[0] is the CTR */
	uint8_t outport;
	uint8_t pending;	/* command waiting for its data byte; 0: none */
	bool last_was_cmd;
	uint8_t last_out;	/* what a read of 0x60 returns when nothing is queued */
	uint8_t q_data[QUEUE_MAX];
	bool q_aux[QUEUE_MAX];
	unsigned q_head, q_count;
};

/* The aux port does not exist: its interface stays disabled and it never
 * interrupts. That is what makes Linux's i8042_check_aux() fail at once
 * (AUX_ENABLE leaves CTR_AUXDIS set) instead of waiting 250 ms for IRQ 12. */
static uint8_t sanitize_ctr(uint8_t v)
{
	return (uint8_t)((v | CTR_AUXDIS) & ~(CTR_AUXINT | CTR_RESERVED));
}

static bool takes_data(uint8_t cmd)
{
	return (cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4);
}

static int irq_wanted(const struct i8042 *d)
{
	return d->q_count > 0 && !d->q_aux[d->q_head] && (d->ram[0] & CTR_KBDINT);
}

static void drive_irq(struct i8042 *d, bool force)
{
	int level = irq_wanted(d);

	if (force || level != d->irq_level) {
		d->irq_level = level;
		irq_line_set(&d->irq, level);
	}
}

/* A new byte reached the head of the output buffer: the line must show a
 * fresh rising edge, since ISA IRQ 1 is edge-triggered at the PIC/IOAPIC. */
static void new_head(struct i8042 *d)
{
	if (d->irq_level == 1 && irq_wanted(d)) {
		d->irq_level = 0;
		irq_line_set(&d->irq, 0);
	}
	drive_irq(d, false);
}

static void queue_push(struct i8042 *d, uint8_t v, bool aux)
{
	unsigned i;

	if (d->q_count == QUEUE_MAX)
		return;		/* a guest flooding the keyboard loses NAKs */
	i = (d->q_head + d->q_count) % QUEUE_MAX;
	d->q_data[i] = v;
	d->q_aux[i] = aux;
	d->q_count++;
	if (d->q_count == 1)
		new_head(d);
}

/* A controller reply goes straight into the output register, replacing
 * whatever waited there. */
static void reply(struct i8042 *d, uint8_t v, bool aux)
{
	d->q_head = 0;
	d->q_count = 0;
	queue_push(d, v, aux);
}

static void power_on(struct i8042 *d)
{
	memset(d->ram, 0, sizeof(d->ram));
	d->ram[0] = CTR_POWER_ON;
	d->outport = OUTPORT_POWER_ON;
	d->pending = 0;
	d->last_was_cmd = false;
	d->last_out = 0;
	d->q_head = 0;
	d->q_count = 0;
}

/* command and data_write return true when the guest pulsed the reset line;
 * the caller asks for the reset after dropping the lock, so a requester that
 * acts synchronously may call back into the device. */
static bool command(struct i8042 *d, uint8_t cmd)
{
	d->last_was_cmd = true;
	d->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) {
		reply(d, d->ram[cmd & 0x1f], false);
		return false;
	}
	if (takes_data(cmd)) {
		d->pending = cmd;
		return false;
	}
	if (cmd >= 0xf0) {
		/* Pulse the output port bits that are 0 in the low nibble;
		 * bit 0 is the CPU reset line ("reboot=k"). */
		return !(cmd & OUTPORT_RESET);
	}
	switch (cmd) {
	case 0xa4:		/* password installed? */
		reply(d, 0xf1, false);	/* no */
		break;
	case 0xa7:		/* disable aux: it is never enabled */
	case 0xa8:		/* enable aux: there is none */
		break;
	case 0xa9:		/* aux interface test: lines fine */
		reply(d, 0x00, false);
		break;
	case 0xaa:		/* controller self-test */
		reply(d, 0x55, false);
		break;
	case 0xab:		/* keyboard interface test: no error */
		reply(d, 0x00, false);
		break;
	case 0xad:
		d->ram[0] |= CTR_KBDDIS;
		break;
	case 0xae:
		d->ram[0] &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xc0:		/* input port: keyboard not inhibited */
		reply(d, 0x80, false);
		break;
	case 0xd0:
		reply(d, d->outport, false);
		break;
	case 0xe0:		/* test inputs: clock and data low */
		reply(d, 0x00, false);
		break;
	default:
		break;		/* unknown: ignored, as a real controller does */
	}
	return false;
}

static bool data_write(struct i8042 *d, uint8_t v)
{
	uint8_t cmd = d->pending;

	d->last_was_cmd = false;
	d->pending = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		d->ram[cmd & 0x1f] = cmd == 0x60 ? sanitize_ctr(v) : v;
		return false;
	}
	switch (cmd) {
	case 0xd1:		/* write output port */
		/* The line goes back up: there is no CPU to hold in reset. */
		d->outport = v | OUTPORT_RESET;
		return !(v & OUTPORT_RESET);
	case 0xd2:		/* as if the keyboard had sent (v) */
		reply(d, v, false);
		break;
	case 0xd3:		/* as if the aux device had sent (v): Linux's aux loop test */
		reply(d, v, true);
		break;
	case 0xd4:		/* to the aux device: nobody there */
		reply(d, KBD_NAK, true);
		break;
	default:
		/* To the keyboard: none is plugged in. A NAK makes Linux's
		 * libps2 fail the command immediately. */
		queue_push(d, KBD_NAK, false);
		break;
	}
	return false;
}

static uint8_t data_read(struct i8042 *d)
{
	if (d->q_count == 0)
		return d->last_out;
	d->last_out = d->q_data[d->q_head];
	d->q_head = (d->q_head + 1) % QUEUE_MAX;
	d->q_count--;
	if (d->q_count > 0)
		new_head(d);
	return d->last_out;
}

static uint8_t status_read(const struct i8042 *d)
{
	uint8_t v = STR_KEYLOCK;

	if (d->ram[0] & CTR_SYS)
		v |= STR_SYS;
	if (d->last_was_cmd)
		v |= STR_CMD;
	if (d->q_count > 0) {
		v |= STR_OBF;
		if (d->q_aux[d->q_head])
			v |= STR_AUXDATA;
	}
	return v;
}

/* The ports are registered with len 1, so (size) is 1; wider accesses only
 * touch byte 0 and read the rest as open bus. */
static void data_io_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct i8042 *d = opaque;
	uint8_t *out = data;

	memset(out, 0xff, size);
	if (off != 0 || size == 0)
		return;
	pthread_mutex_lock(&d->lock);
	out[0] = data_read(d);
	drive_irq(d, false);
	pthread_mutex_unlock(&d->lock);
}

static void data_io_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct i8042 *d = opaque;
	bool reset;

	if (off != 0 || size == 0)
		return;
	pthread_mutex_lock(&d->lock);
	reset = data_write(d, *(const uint8_t *)data);
	drive_irq(d, false);
	pthread_mutex_unlock(&d->lock);
	if (reset)
		vm_request(&d->req, VM_REQ_RESET);
}

static void cmd_io_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct i8042 *d = opaque;
	uint8_t *out = data;

	memset(out, 0xff, size);
	if (off != 0 || size == 0)
		return;
	pthread_mutex_lock(&d->lock);
	out[0] = status_read(d);
	pthread_mutex_unlock(&d->lock);
}

static void cmd_io_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct i8042 *d = opaque;
	bool reset;

	if (off != 0 || size == 0)
		return;
	pthread_mutex_lock(&d->lock);
	reset = command(d, *(const uint8_t *)data);
	drive_irq(d, false);
	pthread_mutex_unlock(&d->lock);
	if (reset)
		vm_request(&d->req, VM_REQ_RESET);
}

const struct io_ops i8042_data_io_ops = {
	.read = data_io_read,
	.write = data_io_write,
};

const struct io_ops i8042_cmd_io_ops = {
	.read = cmd_io_read,
	.write = cmd_io_write,
};

struct i8042 *i8042_create(struct vm_requester req, struct irq_line kbd_irq)
{
	struct i8042 *d = calloc(1, sizeof(*d));
	int r;

	if (d == NULL)
		return NULL;
	r = pthread_mutex_init(&d->lock, NULL);
	if (r != 0) {
		free(d);
		errno = r;
		return NULL;
	}
	d->req = req;
	d->irq = kbd_irq;
	d->irq_level = -1;
	power_on(d);
	return d;
}

static void i8042_reset(void *dev)
{
	struct i8042 *d = dev;

	pthread_mutex_lock(&d->lock);
	power_on(d);
	drive_irq(d, true);
	pthread_mutex_unlock(&d->lock);
}

/* State layout, version 1: ram[32] outport pending last_was_cmd last_out
 * count, then (data, aux) byte pairs for the queued bytes, oldest first. */
static int i8042_save(void *dev, struct buf *out)
{
	struct i8042 *d = dev;

	pthread_mutex_lock(&d->lock);
	buf_append(out, d->ram, sizeof(d->ram));
	buf_put_u8(out, d->outport);
	buf_put_u8(out, d->pending);
	buf_put_u8(out, d->last_was_cmd);
	buf_put_u8(out, d->last_out);
	buf_put_u8(out, (uint8_t)d->q_count);
	for (unsigned i = 0; i < d->q_count; i++) {
		unsigned k = (d->q_head + i) % QUEUE_MAX;
		buf_put_u8(out, d->q_data[k]);
		buf_put_u8(out, d->q_aux[k]);
	}
	pthread_mutex_unlock(&d->lock);
	return out->failed ? -ENOMEM : 0;
}

static bool parse_state(struct i8042 *n, const void *data, size_t len)
{
	struct buf_reader r;
	uint8_t last_cmd, count;

	buf_reader_init(&r, data, len);
	if (!buf_get(&r, n->ram, sizeof(n->ram)) || !buf_get_u8(&r, &n->outport) ||
	    !buf_get_u8(&r, &n->pending) || !buf_get_u8(&r, &last_cmd) ||
	    !buf_get_u8(&r, &n->last_out) || !buf_get_u8(&r, &count))
		return false;
	if (n->ram[0] != sanitize_ctr(n->ram[0]) || !(n->outport & OUTPORT_RESET) ||
	    (n->pending != 0 && !takes_data(n->pending)) || last_cmd > 1 || count > QUEUE_MAX)
		return false;
	n->last_was_cmd = last_cmd;
	n->q_head = 0;
	n->q_count = count;
	for (unsigned i = 0; i < count; i++) {
		uint8_t aux;
		if (!buf_get_u8(&r, &n->q_data[i]) || !buf_get_u8(&r, &aux) || aux > 1)
			return false;
		n->q_aux[i] = aux;
	}
	return r.off == r.len;
}

static int i8042_load(void *dev, const void *data, size_t len, uint32_t version)
{
	struct i8042 *d = dev;
	struct i8042 n;
	int ret = 0;

	memset(&n, 0, sizeof(n));
	pthread_mutex_lock(&d->lock);
	if (version != 1 || data == NULL || !parse_state(&n, data, len)) {
		power_on(d);
		ret = -EINVAL;
	} else {
		memcpy(d->ram, n.ram, sizeof(d->ram));
		d->outport = n.outport;
		d->pending = n.pending;
		d->last_was_cmd = n.last_was_cmd;
		d->last_out = n.last_out;
		memcpy(d->q_data, n.q_data, sizeof(d->q_data));
		memcpy(d->q_aux, n.q_aux, sizeof(d->q_aux));
		d->q_head = 0;
		d->q_count = n.q_count;
	}
	drive_irq(d, true);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void i8042_destroy(void *dev)
{
	struct i8042 *d = dev;

	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const struct dev_ops i8042_dev_ops = {
	.name = "i8042",
	.version = 1,
	.reset = i8042_reset,
	.save = i8042_save,
	.load = i8042_load,
	.destroy = i8042_destroy,
};
